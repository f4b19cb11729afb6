from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from django.urls import get_script_prefix, reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from promptlab.api import SelectableFieldsMixin

from ..models import Job

PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


@cache
def _link_patterns(script_prefix: str) -> dict[str, str]:
    """The job links with a placeholder id, reversed once per script prefix: a list
    page would otherwise reverse four URLs per job."""
    return {
        "self": reverse("api:job-detail", args=[PLACEHOLDER]),
        "events": reverse("api:job-events", args=[PLACEHOLDER]),
        "cancel": reverse("api:job-cancel", args=[PLACEHOLDER]),
        "page": reverse("jobs:detail", args=[PLACEHOLDER]),
    }


def job_links(job_id: Any) -> dict[str, str]:
    pk = str(job_id)
    return {name: url.replace(PLACEHOLDER, pk) for name, url in _link_patterns(get_script_prefix()).items()}


class JobErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class JobSerializer(serializers.ModelSerializer):
    """A job in full, output included."""

    template = serializers.SlugField(source="template_version.template.slug", read_only=True)
    template_version = serializers.IntegerField(source="template_version.number", read_only=True)
    cost = serializers.DecimalField(max_digits=12, decimal_places=6, read_only=True, allow_null=True)
    cached = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = (
            "id",
            "status",
            "template",
            "template_version",
            "provider",
            "model",
            "inputs",
            "output",
            "error",
            "attempts",
            "input_tokens",
            "output_tokens",
            "cost",
            "cached",
            "created_at",
            "started_at",
            "first_token_at",
            "finished_at",
            "links",
        )
        read_only_fields = fields

    def to_representation(self, instance: Job) -> dict[str, Any]:
        # The list's renderer, on this job's values: one rendering for list, detail and
        # events, and without building DRF's fields for every response.
        fields = list(self.fields) if "fields" in self.__dict__ else list(self.Meta.fields)
        return list_items([job_row(instance, list_columns(fields))], fields)[0]

    def get_cached(self, obj: Job) -> bool:
        return obj.cached_from_id is not None or obj.leader_id is not None

    @extend_schema_field(JobErrorSerializer(allow_null=True))
    def get_error(self, obj: Job) -> dict[str, str] | None:
        if not obj.error_code:
            return None
        return {"code": obj.error_code, "message": obj.error_text}

    def get_links(self, obj: Job) -> dict[str, str]:
        return job_links(obj.pk)


class JobListItemSerializer(SelectableFieldsMixin, JobSerializer):
    """A job in a list: every field but the output, unless ``?fields=`` names them.

    It documents the list; pages are built by ``list_items`` from plain rows, because
    model instances and DRF's field machinery cost more than the whole rest of the
    request. A test holds the two to the same output.
    """

    default_omitted = ("output",)

    class Meta(JobSerializer.Meta):
        pass


# The database columns each field of a list item is made from.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "template": ("template_version__template__slug",),
    "template_version": ("template_version__number",),
    "error": ("error_code", "error_message"),
    "cached": ("cached_from_id", "leader_id"),
    "links": ("id",),
}
_DATETIMES = ("created_at", "started_at", "first_token_at", "finished_at")
_cost = JobSerializer._declared_fields["cost"]


def list_columns(fields: list[str]) -> list[str]:
    columns = {"id", "created_at"}  # the cursor needs created_at
    for name in fields:
        columns.update(_COLUMNS.get(name, (name,)))
    return sorted(columns)


def job_row(job: Job, columns: list[str]) -> dict[str, Any]:
    """A job's values, keyed as ``Job.objects.values(*columns)`` returns them."""
    row: dict[str, Any] = {}
    for column in columns:
        if column == "template_version__number":
            row[column] = job.template_version.number
        elif column == "template_version__template__slug":
            row[column] = job.template_version.template.slug
        else:
            row[column] = getattr(job, column)
    return row


def list_items(rows: list[dict[str, Any]], fields: list[str]) -> list[dict[str, Any]]:
    """Rows of ``Job.objects.values(*list_columns(fields))`` as JobSerializer renders them."""
    from ..errors import describe_error

    tz = timezone.get_current_timezone()

    def moment(value: datetime | None) -> str | None:
        # What DRF's DateTimeField renders, without its per-value timezone lookups.
        if value is None:
            return None
        text = value.astimezone(tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    items = []
    for row in rows:
        item: dict[str, Any] = {}
        for name in fields:
            if name == "id":
                item[name] = str(row["id"])
            elif name == "template":
                item[name] = row["template_version__template__slug"]
            elif name == "template_version":
                item[name] = row["template_version__number"]
            elif name == "error":
                code = row["error_code"]
                item[name] = (
                    {"code": code, "message": describe_error(code, row["error_message"])} if code else None
                )
            elif name == "cached":
                item[name] = row["cached_from_id"] is not None or row["leader_id"] is not None
            elif name == "links":
                item[name] = job_links(row["id"])
            elif name == "cost":
                item[name] = None if row["cost"] is None else _cost.to_representation(row["cost"])
            elif name in _DATETIMES:
                item[name] = moment(row[name])
            else:
                item[name] = row[name]
        items.append(item)
    return items
