"""The invitation pages: a workspace's invitations (its admins invite and revoke there),
and the page an e-mailed link opens, where the invitee accepts or declines."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from . import invitations
from .invitation_forms import InvitationForm
from .invitations import InvitationError
from .models import Invitation, InvitationState, Role, Workspace

# The status of a link's page by why it no longer works: 410 for a link that did work.
STATUS_OF_ERROR = {
    "invitation_used": 410,
    "invitation_declined": 410,
    "invitation_revoked": 410,
    "invitation_expired": 410,
    "invitation_for_another_address": 403,
    "not_found": 404,
}


def _workspace_url(workspace: Workspace) -> str:
    return workspace.get_absolute_url()


def _get_team_workspace_for_admin(request: HttpRequest, slug: str) -> Workspace:
    """404 for anyone who isn't a member (and for a personal workspace, which has no
    invitations), 403 for a member below admin."""
    workspace = get_object_or_404(Workspace.objects.of(request.user), slug=slug, personal=False)
    if not workspace.allows(request.user, Role.ADMIN):
        raise PermissionDenied
    return workspace


@login_required
@require_http_methods(["GET", "POST"])
def workspace_invitations(request: HttpRequest, slug: str) -> HttpResponse:
    workspace = _get_team_workspace_for_admin(request, slug)
    form = InvitationForm(request.POST or None, roles=invitations.roles_offered_by(workspace, request.user))
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        try:
            invitations.invite(request, workspace, request.user, email, Role(form.cleaned_data["role"]))
        except InvitationError as error:
            form.add_error(error.field, error.message)
        else:
            # The same words for an address with an account and one without.
            messages.success(request, _("An invitation was sent to %(email)s.") % {"email": email})
            return redirect("workspaces:invitations", slug=workspace.slug)
    pending = Invitation.objects.open().filter(workspace=workspace).select_related("invited_by")
    context = {
        "workspace": workspace,
        "workspace_url": _workspace_url(workspace),
        "form": form,
        "invitations": pending,
        "days": settings.INVITATION_DAYS,
    }
    return render(request, "workspaces/invitations/list.html", context)


@login_required
@require_POST
def revoke_invitation(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    workspace = _get_team_workspace_for_admin(request, slug)
    invitation = get_object_or_404(Invitation.objects.open(), workspace=workspace, pk=invitation_id)
    invitations.revoke(workspace, request.user, invitation)
    messages.success(request, _("The invitation of %(email)s was withdrawn.") % {"email": invitation.email})
    return redirect("workspaces:invitations", slug=workspace.slug)


def _invitation_page(
    request: HttpRequest, token: str, error: InvitationError | None = None, status: int = 200
) -> HttpResponse:
    invitation = Invitation.objects.for_token(token).select_related("workspace", "invited_by").first()
    if invitation is None:
        context = {"error": _("This invitation link is not valid. Check that it was copied whole.")}
        return render(request, "workspaces/invitations/invitation.html", context, status=404)
    state = invitation.state
    if error is None and state != InvitationState.PENDING:
        error = InvitationError(*invitations.CLOSED[state])
        status = 410
    path = _link_path(token)
    context = {
        "invitation": invitation,
        "token": token,
        "error": error.message if error else None,
        "inviter": invitation.invited_by.get_full_name() or invitation.invited_by.email
        if invitation.invited_by
        else "",
        "for_me": invitation.is_for(request.user),
        "member_url": _workspace_url(invitation.workspace)
        if invitation.workspace.role_of(request.user)
        else None,
        "link_path": path,
        "sign_in_url": f"{reverse('accounts:login')}?{urlencode({'next': path})}",
        "register_url": f"{reverse('accounts:register')}?"
        + urlencode({"email": invitation.email, "next": path}),
    }
    return render(request, "workspaces/invitations/invitation.html", context, status=status)


def _link_path(token: str) -> str:
    return reverse("workspaces:invitation", args=[token])


@require_http_methods(["GET"])
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """What the e-mailed link opens. GET changes nothing (a mail scanner that follows
    links accepts nothing): accepting and declining are buttons."""
    return _invitation_page(request, token)


@require_POST
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(_link_path(token))
    try:
        membership = invitations.accept(token, request.user)
    except InvitationError as error:
        if error.code == "not_found":
            raise Http404 from error
        return _invitation_page(request, token, error, STATUS_OF_ERROR.get(error.code, 400))
    messages.success(
        request,
        _("You joined %(workspace)s as %(role)s.")
        % {"workspace": membership.workspace.name, "role": membership.role_enum.label.lower()},
    )
    return redirect(_workspace_url(membership.workspace))


@require_POST
def decline_invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = invitations.decline(token, request.user)
    except InvitationError as error:
        if error.code == "not_found":
            raise Http404 from error
        return _invitation_page(request, token, error, STATUS_OF_ERROR.get(error.code, 400))
    messages.success(
        request, _("You declined the invitation to %(workspace)s.") % {"workspace": invitation.workspace.name}
    )
    return redirect("templates_app:home")
