from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Job, JobStep


class JobStepInline(admin.StackedInline):
    """A workflow run's steps, as the orchestrator left them (stacked: a tabular inline's
    header cells for the object and deletion columns are empty, which axe refuses)."""

    model = JobStep
    fk_name = "run"
    extra = 0
    fields = (
        "name",
        "item",
        "status",
        "job",
        "error_code",
        "output_tokens",
        "cost",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
    inlines = (JobStepInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
