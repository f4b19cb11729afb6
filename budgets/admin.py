from __future__ import annotations

from django.contrib import admin

from .models import Budget, Period


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = (
        "workspace",
        "member",
        "token_limit",
        "cost_limit",
        "soft_percent",
        "allow_unpriced_models",
    )
    raw_id_fields = ("workspace", "member")
    search_fields = ("workspace__slug", "workspace__name", "member__email")


@admin.register(Period)
class PeriodAdmin(admin.ModelAdmin):
    list_display = (
        "budget",
        "month",
        "spent_tokens",
        "reserved_tokens",
        "spent_cost",
        "reserved_cost",
        "warned_at",
    )
    readonly_fields = (
        "budget",
        "month",
        "spent_tokens",
        "reserved_tokens",
        "spent_cost",
        "reserved_cost",
        "warned_at",
    )
    list_filter = ("month",)
