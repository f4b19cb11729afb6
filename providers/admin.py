from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import provider_is_available
from .models import ModelPrice, ProviderConnection

logger = logging.getLogger(__name__)


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("provider", "model", "input_per_million", "output_per_million", "updated_at")
    list_filter = ("provider",)
    search_fields = ("model",)


@admin.register(ProviderConnection)
class ProviderConnectionAdmin(admin.ModelAdmin):
    """A connection decides where a server-side key is sent: only superusers manage them.

    Staff with the view permission may look (names, URLs and variable names, never a
    key). Every change is recorded three times: the admin's LogEntry (the object's history
    page), the audit log (by the model) and a line in the application log, which leaves
    the database.
    """

    list_display = ("name", "base_url", "api_key_env", "enabled", "available")
    list_filter = ("enabled",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def log_addition(self, request: HttpRequest, obj: ProviderConnection, message: Any) -> Any:
        _log_connection_change(request, "added", [obj])
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: ProviderConnection, message: Any) -> Any:
        _log_connection_change(request, "changed", [obj])
        return super().log_change(request, obj, message)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        # One by one, so that each deletion is in the audit log (the model records it).
        for connection in queryset:
            connection.delete()

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        _log_connection_change(request, "deleted", list(queryset))
        return super().log_deletions(request, queryset)

    @admin.display(boolean=True, description=_("key configured"))
    def available(self, obj: ProviderConnection) -> bool:
        return obj.enabled and provider_is_available(obj.name)


def _log_connection_change(request: HttpRequest, action: str, connections: list[ProviderConnection]) -> None:
    for connection in connections:
        logger.info(
            "provider connection %s %s by user %s (%s): base_url=%s api_key_env=%s enabled=%s",
            connection.name,
            action,
            request.user.pk,
            request.user.get_username(),
            connection.base_url,
            connection.api_key_env or "-",
            connection.enabled,
        )
