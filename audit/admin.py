from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read only: staff look, nobody adds, changes or deletes (the model refuses too)."""

    list_display = ("created_at", "action", "actor_email", "workspace_name", "target_text", "ip_address")
    list_filter = ("action", "created_at", "target_type")
    search_fields = ("actor_email", "workspace_name", "target_text", "ip_address")
    date_hierarchy = "created_at"
    list_select_related = ("workspace", "actor")
    show_full_result_count = False  # a long log: no second COUNT(*) per page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
