from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import Batch, BatchConfiguration, BatchRow


class ReadOnly:
    """Batches are records of what ran: readable, changed only by the app."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [field.name for field in self.model._meta.fields]  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ConfigurationInline(ReadOnly, admin.TabularInline):
    model = BatchConfiguration
    extra = 0
    can_delete = False
    fields = ("position", "label", "template_version", "provider", "model", "temperature", "draft_run")


@admin.register(Batch)
class BatchAdmin(ReadOnly, admin.ModelAdmin):
    list_display = (
        "id",
        "template",
        "owner",
        "state",
        "total_rows",
        "pending",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "cost",
        "created_at",
    )
    list_filter = ("state",)
    search_fields = ("id", "owner__email", "template__slug", "source_name")
    date_hierarchy = "created_at"
    list_select_related = ("template", "owner")
    inlines = [ConfigurationInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*super().get_readonly_fields(request, obj), "rows_link"]

    @admin.display(description=_("rows"))
    def rows_link(self, obj: Batch) -> str:
        # A link to the rows' own list rather than an inline: a batch may have 10,000.
        url = reverse("admin:batches_batchrow_changelist") + f"?batch__id__exact={obj.pk}"
        return format_html(
            '<a href="{}">{}</a>', url, _("The batch's %(count)d rows") % {"count": obj.total_rows}
        )


@admin.register(BatchRow)
class BatchRowAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("batch", "number", "configuration", "status", "job", "dispatched_at")
    list_filter = ("status",)
    search_fields = ("=batch__id", "=job__id")
    list_select_related = ("batch__template", "configuration")
    raw_id_fields = ("batch", "job", "configuration")
