"""The site's workspace pages: the list (and a new team workspace), a workspace's page,
its members and their roles, its settings. Anyone who is not a member gets a 404 for
every page of a workspace; a member whose role is too low for a page gets a 403."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import current, services
from .forms import RoleForm, TransferForm, WorkspaceCreateForm, WorkspaceSettingsForm
from .models import Membership, Role, Workspace, roles_of
from .services import WorkspaceError

View = Callable[..., HttpResponse]


def _workspace_for_member(request: HttpRequest, slug: str) -> tuple[Workspace, Role]:
    workspace = get_object_or_404(Workspace, slug=slug)
    role = workspace.role_of(request.user)
    if role is None:
        raise Http404
    return workspace, role


def _forbidden(request: HttpRequest, workspace: Workspace, message: str) -> HttpResponse:
    return render(
        request, "workspaces/forbidden.html", {"workspace": workspace, "message": message}, status=403
    )


def member_view(role: Role = Role.MEMBER) -> Callable[[View], View]:
    """Signed in and a member (else 404), holding ``role`` (else 403): the view gets
    the workspace and the user's role after the request."""

    def decorate(view: View) -> View:
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            workspace, held = _workspace_for_member(request, slug)
            if not held.at_least(role):
                return _forbidden(request, workspace, _("Your role in this workspace does not allow this."))
            return view(request, workspace, held, *args, **kwargs)

        return wrapper

    return decorate


def _refused(request: HttpRequest, error: WorkspaceError) -> None:
    messages.error(request, str(error.message))


@login_required
@require_http_methods(["GET", "POST"])
def list_workspaces(request: HttpRequest) -> HttpResponse:
    form = WorkspaceCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.create_team_workspace(
                request.user, form.cleaned_data["name"], form.cleaned_data["slug"]
            )
        except IntegrityError:  # the same short name chosen by someone else a moment before
            form.add_error("slug", _("Another workspace has this short name: choose another."))
        else:
            current.remember(request, workspace)
            messages.success(request, _("The workspace “%(name)s” was created.") % {"name": workspace.name})
            return redirect(workspace)
    roles = roles_of(request.user)
    workspaces = Workspace.objects.where(request.user, Role.MEMBER).annotate(
        member_count=Count("memberships")
    )
    rows = [{"workspace": workspace, "role": roles.get(workspace.pk)} for workspace in workspaces]
    return render(request, "workspaces/list.html", {"rows": rows, "form": form})


@member_view()
@require_GET
def workspace_detail(request: HttpRequest, workspace: Workspace, role: Role) -> HttpResponse:
    current.remember(request, workspace)
    templates = workspace.templates.visible_to(request.user)
    if not role.at_least(Role.EDITOR):
        templates = templates.runnable()
    templates = templates.select_related("published_version").prefetch_related("tags").order_by("name")
    context = {
        "workspace": workspace,
        "role": role,
        "can_edit": role.at_least(Role.EDITOR),
        "is_admin": role.at_least(Role.ADMIN),
        "templates": templates,
        "member_count": workspace.memberships.count(),
    }
    return render(request, "workspaces/detail.html", context)


@member_view()
@require_GET
def members(request: HttpRequest, workspace: Workspace, role: Role) -> HttpResponse:
    memberships = workspace.memberships.select_related("user").order_by("user__email")
    rows = []
    for membership in memberships:
        rows.append(
            {
                "membership": membership,
                "is_me": membership.user_id == request.user.pk,
                "can_change": _may_manage(role, membership) and membership.user_id != request.user.pk,
                "form": RoleForm(initial={"role": membership.role}, prefix=f"m{membership.pk}"),
            }
        )
    context = {
        "workspace": workspace,
        "role": role,
        "is_admin": role.at_least(Role.ADMIN),
        "is_owner": role == Role.OWNER,
        "rows": rows,
        "roles": [Role(value) for value in Role.values],
    }
    return render(request, "workspaces/members.html", context)


def _may_manage(actor_role: Role, membership: Membership) -> bool:
    """Whether the page offers to change or remove this member (the service decides)."""
    if membership.role == Role.OWNER:
        return False
    if membership.role == Role.ADMIN:
        return actor_role == Role.OWNER
    return actor_role.at_least(Role.ADMIN)


def _membership(workspace: Workspace, membership_id: int) -> Membership:
    return get_object_or_404(workspace.memberships.select_related("user"), pk=membership_id)


@member_view(Role.ADMIN)
@require_POST
def change_role(request: HttpRequest, workspace: Workspace, role: Role, membership_id: int) -> HttpResponse:
    membership = _membership(workspace, membership_id)
    form = RoleForm(request.POST, prefix=f"m{membership.pk}")
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["role"]))
        return redirect("workspaces:members", workspace.slug)
    try:
        services.change_role(workspace, request.user, membership, Role(form.cleaned_data["role"]))
    except WorkspaceError as error:
        _refused(request, error)
    else:
        messages.success(
            request,
            _("%(email)s is now: %(role)s.")
            % {"email": membership.user.email, "role": membership.get_role_display()},
        )
    return redirect("workspaces:members", workspace.slug)


@member_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def remove_member(request: HttpRequest, workspace: Workspace, role: Role, membership_id: int) -> HttpResponse:
    """GET asks (a page of its own, so it works without JavaScript); POST removes."""
    membership = _membership(workspace, membership_id)
    if request.method == "GET":
        return render(request, "workspaces/remove.html", {"workspace": workspace, "membership": membership})
    try:
        services.remove_member(workspace, request.user, membership)
    except WorkspaceError as error:
        _refused(request, error)
    else:
        messages.success(
            request, _("%(email)s was removed from the workspace.") % {"email": membership.user.email}
        )
    return redirect("workspaces:members", workspace.slug)


@member_view()
@require_http_methods(["GET", "POST"])
def leave_workspace(request: HttpRequest, workspace: Workspace, role: Role) -> HttpResponse:
    if request.method == "GET":
        return render(request, "workspaces/leave.html", {"workspace": workspace, "role": role})
    workspace_id = workspace.pk
    try:
        services.leave(workspace, request.user)
    except WorkspaceError as error:
        _refused(request, error)
        return redirect("workspaces:members", workspace.slug)
    current.forget(request, workspace_id)
    messages.success(request, _("You left the workspace “%(name)s”.") % {"name": workspace.display_name})
    return redirect("workspaces:list")


@member_view(Role.OWNER)
@require_http_methods(["GET", "POST"])
def transfer_ownership(request: HttpRequest, workspace: Workspace, role: Role) -> HttpResponse:
    """A page that names the consequence and asks whom to: it is the confirmation."""
    form = TransferForm(
        request.POST if request.method == "POST" else None, workspace=workspace, actor=request.user
    )
    if request.method == "POST" and form.is_valid():
        new_owner = form.cleaned_data["new_owner"]
        try:
            services.transfer_ownership(workspace, request.user, new_owner)
        except WorkspaceError as error:
            _refused(request, error)
        else:
            messages.success(
                request,
                _("%(email)s now owns the workspace; you are one of its admins.")
                % {"email": new_owner.user.email},
            )
            return redirect("workspaces:members", workspace.slug)
    context = {"workspace": workspace, "form": form, "has_others": form.fields["new_owner"].queryset.exists()}
    return render(request, "workspaces/transfer.html", context)


@member_view(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def workspace_settings(request: HttpRequest, workspace: Workspace, role: Role) -> HttpResponse:
    form = WorkspaceSettingsForm(request.POST if request.method == "POST" else None, instance=workspace)
    if request.method == "POST" and form.is_valid():
        # Through the service, on the row as it was (the valid form has already set the
        # new values on its instance): it saves and records only what changed.
        changes = {field: form.cleaned_data[field] for field in form.fields}
        services.change_settings(Workspace.objects.get(pk=workspace.pk), request.user, **changes)
        messages.success(request, _("The workspace’s settings were saved."))
        return redirect("workspaces:settings", workspace.slug)
    context = {"workspace": workspace, "form": form, "is_owner": role == Role.OWNER}
    return render(request, "workspaces/settings.html", context)


@member_view(Role.OWNER)
@require_http_methods(["GET", "POST"])
def delete_workspace(request: HttpRequest, workspace: Workspace, role: Role) -> HttpResponse:
    """GET asks; POST deletes (refused, and said so, while it holds templates)."""
    if workspace.personal:
        return _forbidden(request, workspace, _("A personal workspace cannot be deleted."))
    error = None
    if request.method == "POST":
        workspace_id = workspace.pk
        try:
            services.delete_workspace(workspace, request.user)
        except WorkspaceError as refused:
            error = refused.message
        else:
            current.forget(request, workspace_id)
            messages.success(request, _("The workspace “%(name)s” was deleted.") % {"name": workspace.name})
            return redirect("workspaces:list")
    return render(request, "workspaces/delete.html", {"workspace": workspace, "error": error})
