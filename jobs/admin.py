from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Jobs are records of what happened: readable, never edited by hand."""

    list_display = (
        "id",
        "template_version",
        "owner",
        "status",
        "provider",
        "model",
        "output_tokens",
        "cost",
        "created_at",
    )
    list_filter = ("status", "provider")
    search_fields = ("id", "owner__email", "template_version__template__slug")
    date_hierarchy = "created_at"
    list_select_related = ("template_version__template", "owner")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
