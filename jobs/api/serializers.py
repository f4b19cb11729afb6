from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from promptlab.api import FieldsBuiltOnceMixin, SelectableFieldsMixin, StrictFieldsMixin
from templates_app.api.serializers import validate_provider_name

from ..models import Job
from ..workflow_page import is_workflow_run, item_of, step_error, step_rows


class JobErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class JobStepSerializer(serializers.Serializer):
    """One step of a workflow run (or one item of a ``for_each`` step), as ``steps`` lists them."""

    name = serializers.CharField(read_only=True)
    item = serializers.SerializerMethodField(help_text="The item's index in a for_each step; null: the step.")
    status = serializers.ChoiceField(
        choices=["waiting", "running", "skipped", "succeeded", "failed", "cancelled"], read_only=True
    )
    output = serializers.CharField(read_only=True)
    output_data = serializers.JSONField(
        read_only=True, allow_null=True, help_text="Parsed JSON output, a transform's value, or the items."
    )
    error_code = serializers.CharField(read_only=True)
    error = serializers.SerializerMethodField()
    input_tokens = serializers.IntegerField(read_only=True, allow_null=True)
    output_tokens = serializers.IntegerField(read_only=True, allow_null=True)
    cost = serializers.DecimalField(max_digits=12, decimal_places=6, read_only=True, allow_null=True)
    started_at = serializers.DateTimeField(read_only=True, allow_null=True)
    finished_at = serializers.DateTimeField(read_only=True, allow_null=True)
    job = serializers.UUIDField(
        source="job_id", read_only=True, allow_null=True, help_text="The step's own job (a prompt step)."
    )

    def get_item(self, obj: Any) -> int | None:
        return item_of(obj)

    def get_error(self, obj: Any) -> str:
        return step_error(obj)


class JobSerializer(FieldsBuiltOnceMixin, serializers.ModelSerializer):
    """A job in full, output included."""

    template = serializers.SlugField(source="template_version.template.slug", read_only=True)
    template_version = serializers.IntegerField(source="template_version.number", read_only=True)
    cost = serializers.DecimalField(max_digits=12, decimal_places=6, read_only=True, allow_null=True)
    run_by = serializers.EmailField(
        source="owner.email",
        read_only=True,
        allow_null=True,
        help_text=(
            "Who ran it: you, or a fellow member of a workspace that shares its jobs (read-only); "
            "null for a visitor's run."
        ),
    )
    cached = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    steps = serializers.SerializerMethodField()
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
            "run_by",
            "created_at",
            "started_at",
            "first_token_at",
            "finished_at",
            "steps",
            "links",
        )
        read_only_fields = fields

    @extend_schema_field(JobStepSerializer(many=True))
    def get_steps(self, obj: Job) -> list[dict[str, Any]]:
        """A workflow run's steps in graph order (a for_each step before its items); [] for a job."""
        if not is_workflow_run(obj):
            return []
        return JobStepSerializer(step_rows(obj), many=True).data

    def get_cached(self, obj: Job) -> bool:
        return obj.cached_from_id is not None or obj.leader_id is not None

    @extend_schema_field(JobErrorSerializer(allow_null=True))
    def get_error(self, obj: Job) -> dict[str, str] | None:
        if not obj.error_code:
            return None
        return {"code": obj.error_code, "message": obj.error_text}

    def get_links(self, obj: Job) -> dict[str, str]:
        return {
            "self": reverse("api:job-detail", args=[obj.pk]),
            "events": reverse("api:job-events", args=[obj.pk]),
            "cancel": reverse("api:job-cancel", args=[obj.pk]),
            "page": reverse("jobs:detail", args=[obj.pk]),
        }


class JobStatusSerializer(JobSerializer):
    """A job's status fields, as in the job: what an event stream's ``status`` events carry."""

    # What these fields read, and the output the stream ends with: all a stream loads.
    columns = (
        "id", "leader", "status", "attempts", "input_tokens", "output_tokens", "cost",
        "error_code", "error_message", "finished_at", "output",
    )  # fmt: skip

    class Meta(JobSerializer.Meta):
        fields = ("id", "status", "attempts", "input_tokens", "output_tokens", "cost", "error", "finished_at")
        read_only_fields = fields


class JobListItemSerializer(SelectableFieldsMixin, JobSerializer):
    """A job in a list: every field but the output and the steps, unless ``?fields=`` names them."""

    default_omitted = ("output", "steps")

    class Meta(JobSerializer.Meta):
        pass


WAIT_MAX_SECONDS = 60


class SecondsField(serializers.FloatField):
    """A number of seconds: a JSON number (not a string or a boolean, which FloatField
    would take), from 0 to ``max_value``."""

    def __init__(self, **kwargs: Any) -> None:
        message = format_lazy(_("Enter a number of seconds from 0 to {max}."), max=kwargs["max_value"])
        kwargs["error_messages"] = {"invalid": message, "min_value": message, "max_value": message}
        super().__init__(min_value=0, **kwargs)

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class GenerateSerializer(StrictFieldsMixin, serializers.Serializer):
    inputs = serializers.DictField(child=serializers.JSONField(), default=dict)
    provider = serializers.CharField(
        max_length=40,
        required=False,
        validators=[validate_provider_name],
        help_text="Run on another provider than the template's: see model.",
    )
    model = serializers.CharField(
        max_length=100,
        required=False,
        help_text=(
            "Run on another model than the template's: only one its model_settings.allowed_models "
            "lists, and with a price (staff may choose any). Otherwise 400 naming the field."
        ),
    )
    wait = SecondsField(
        max_value=WAIT_MAX_SECONDS,
        required=False,
        help_text=(
            "Wait up to this many seconds for the job to end: 200 with the finished job if it ends "
            "in time, otherwise 202 with the job queued or running (follow its events or poll it). "
            "A server with many requests waiting already answers at once."
        ),
    )
