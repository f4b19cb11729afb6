"""The workspace's budgets page: its admins set the monthly limits (/workspaces/<slug>/budgets/)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.models import limited_to_templates
from workspaces.models import Role, Workspace

from . import services
from .forms import MemberBudgetForm, WorkspaceBudgetForm
from .models import Budget, Period, month_of, resets_at


def workspace_for_admin(user: object, slug: str, credential: object = None) -> Workspace:
    """The workspace if ``user`` is an admin or its owner; 404 for a non-member (and for
    the API's personal token limited to another workspace), 403 for a member whose role is
    too low (they know it exists) and for a token limited to some templates."""
    workspace = Workspace.objects.of(user).reachable_with(credential).filter(slug=slug).first()
    if workspace is None:
        raise Http404
    if limited_to_templates(credential):
        raise PermissionDenied
    if not workspace.allows(user, Role.ADMIN):
        raise PermissionDenied
    return workspace


@login_required
@require_http_methods(["GET", "POST"])
def edit_budgets(request: HttpRequest, slug: str) -> HttpResponse:
    workspace = workspace_for_admin(request.user, slug)
    own = Budget.objects.filter(workspace=workspace, member__isnull=True).first() or Budget(
        workspace=workspace
    )
    members = get_user_model().objects.filter(memberships__workspace=workspace).order_by("email")
    workspace_form = WorkspaceBudgetForm(instance=own, prefix="workspace")
    member_form = MemberBudgetForm(members=members, prefix="member")
    if request.method == "POST" and request.POST.get("which") == "workspace":
        workspace_form = WorkspaceBudgetForm(request.POST, instance=own, prefix="workspace")
        if workspace_form.is_valid():
            fields = {name: workspace_form.cleaned_data[name] for name in workspace_form.fields}
            services.set_budget(workspace, request.user, None, fields)
            messages.success(request, _("The workspace's budget was saved."))
            return redirect("budgets:edit", slug=workspace.slug)
    elif request.method == "POST":
        member_form = MemberBudgetForm(request.POST, members=members, prefix="member")
        if member_form.is_valid():
            member = member_form.cleaned_data["member_choice"]
            data = {
                name: member_form.cleaned_data[name] for name in ("token_limit", "cost_limit", "soft_percent")
            }
            if data["token_limit"] is None and data["cost_limit"] is None:
                services.remove_budget(workspace, request.user, member)
                messages.success(request, _("The budget of %(member)s was removed.") % {"member": member})
            else:
                services.set_budget(workspace, request.user, member, data)
                messages.success(request, _("The budget of %(member)s was saved.") % {"member": member})
            return redirect("budgets:edit", slug=workspace.slug)
    month = month_of()
    budgets = list(
        Budget.objects.filter(workspace=workspace).select_related("member").order_by("member__email")
    )
    periods = {period.budget_id: period for period in Period.objects.filter(budget__in=budgets, month=month)}
    rows = [(budget, periods.get(budget.pk) or Period(budget=budget, month=month)) for budget in budgets]
    context = {
        "workspace": workspace,
        "workspace_form": workspace_form,
        "member_form": member_form,
        "rows": rows,
        "month": month,
        "resets_at": resets_at(month),
        "any_errors": bool(workspace_form.errors or member_form.errors),
    }
    return render(request, "budgets/edit.html", context)
