from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import Job, ModelPrice, ProviderConnection


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


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = ("provider", "model", "input_per_million", "output_per_million", "updated_at")
    list_filter = ("provider",)
    search_fields = ("model",)


@admin.register(ProviderConnection)
class ProviderConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "base_url", "api_key_env", "enabled", "available")
    list_filter = ("enabled",)

    @admin.display(boolean=True, description=_("key configured"))
    def available(self, obj: ProviderConnection) -> bool:
        from .services import provider_is_available

        return obj.enabled and provider_is_available(obj.name)
