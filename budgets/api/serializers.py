from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from ..models import Budget, Period


class LimitsSerializer(serializers.ModelSerializer):
    used_tokens = serializers.SerializerMethodField(
        help_text="Spent and held by runs in progress, this month."
    )
    used_cost = serializers.SerializerMethodField(help_text="US$, spent and held, this month.")

    class Meta:
        model = Budget
        fields = ("token_limit", "cost_limit", "soft_percent", "used_tokens", "used_cost")

    def _period(self, budget: Budget) -> Period:
        periods = self.context.get("periods", {})
        return periods.get(budget.pk) or Period(budget=budget)

    def get_used_tokens(self, budget: Budget) -> int:
        return self._period(budget).used_tokens

    def get_used_cost(self, budget: Budget) -> str:
        return str(self._period(budget).used_cost)


class WorkspaceLimitsSerializer(LimitsSerializer):
    class Meta(LimitsSerializer.Meta):
        fields = (*LimitsSerializer.Meta.fields, "allow_unpriced_models")


class MemberLimitsSerializer(LimitsSerializer):
    member = serializers.EmailField(help_text="The member's e-mail address.")

    class Meta(LimitsSerializer.Meta):
        fields = ("member", *LimitsSerializer.Meta.fields)

    def to_representation(self, budget: Budget) -> dict[str, Any]:
        data = super().to_representation(budget)
        data["member"] = budget.member.email
        return data

    def validate_member(self, email: str) -> Any:
        members = self.context["members"]
        user = members.filter(email__iexact=email).first()
        if user is None:
            raise serializers.ValidationError(_("No member of this workspace has this e-mail address."))
        return user


class BudgetsSerializer(serializers.Serializer):
    month = serializers.DateField(read_only=True, help_text="The month's first day (UTC).")
    resets_at = serializers.DateTimeField(read_only=True, help_text="The 1st of next month, 00:00 UTC.")
    workspace = WorkspaceLimitsSerializer(help_text="The workspace's own budget and settings.")
    members = MemberLimitsSerializer(
        many=True, help_text="The members' own budgets (all of them: PUT replaces)."
    )

    def validate_members(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen = [item["member"].pk for item in members]
        if len(seen) != len(set(seen)):
            raise serializers.ValidationError(_("Each member at most once."))
        return members
