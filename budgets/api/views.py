from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from .. import services
from ..models import Budget, Period, month_of, resets_at
from ..views import workspace_for_admin
from .serializers import BudgetsSerializer

ROLE_NOTE = (
    " Needs the admin or owner role in the workspace: a member with a lower role gets 403, anyone else 404."
)


class WorkspaceBudgetsView(generics.GenericAPIView):
    """A workspace's monthly budgets: GET and PUT workspaces/{slug}/budgets."""

    serializer_class = BudgetsSerializer

    def _context(self, workspace: Any) -> dict[str, Any]:
        month = month_of()
        budgets = Budget.objects.filter(workspace=workspace)
        periods = {
            period.budget_id: period for period in Period.objects.filter(budget__in=budgets, month=month)
        }
        members = get_user_model().objects.filter(memberships__workspace=workspace)
        return {**self.get_serializer_context(), "periods": periods, "members": members}

    def _body(self, workspace: Any) -> dict[str, Any]:
        month = month_of()
        budgets = (
            Budget.objects.filter(workspace=workspace).select_related("member").order_by("member__email")
        )
        own = next((budget for budget in budgets if budget.member_id is None), None) or Budget(
            workspace=workspace
        )
        data = {
            "month": month,
            "resets_at": resets_at(month),
            "workspace": own,
            "members": [budget for budget in budgets if budget.member_id is not None],
        }
        return BudgetsSerializer(data, context=self._context(workspace)).data

    @extend_schema(summary="A workspace's budgets", description="This month's limits and usage." + ROLE_NOTE)
    def get(self, request: Request, slug: str) -> Response:
        workspace = workspace_for_admin(request.user, slug, request.auth)
        return Response(self._body(workspace))

    @extend_schema(
        summary="Set a workspace's budgets",
        description=(
            "Replaces the workspace's budget and every member's (a member left out has no budget of "
            "their own any more; empty limits: no limit)." + ROLE_NOTE
        ),
    )
    def put(self, request: Request, slug: str) -> Response:
        workspace = workspace_for_admin(request.user, slug, request.auth)
        payload = BudgetsSerializer(data=request.data, context=self._context(workspace))
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        with transaction.atomic():
            services.set_budget(workspace, request.user, None, data["workspace"])
            kept = []
            for item in data["members"]:
                fields = {name: value for name, value in item.items() if name != "member"}
                kept.append(services.set_budget(workspace, request.user, item["member"], fields).pk)
            gone = Budget.objects.filter(workspace=workspace, member__isnull=False).exclude(pk__in=kept)
            for budget in gone.select_related("member"):
                services.remove_budget(workspace, request.user, budget.member)
        return Response(self._body(workspace))
