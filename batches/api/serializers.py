from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from promptlab.api import StrictFieldsMixin
from templates_app.api.serializers import validate_provider_name

from ..models import MAX_CONFIGURATIONS, Batch, BatchConfiguration, BatchRow

# A JSON body holds at most this many rows (a file holds up to the plan's limit).
MAX_JSON_ROWS = 10_000


class BatchConfigurationSerializer(serializers.ModelSerializer):
    template_version = serializers.IntegerField(source="template_version.number", read_only=True)
    temperature = serializers.DecimalField(
        max_digits=3, decimal_places=2, read_only=True, allow_null=True, help_text="Null: the version's own."
    )

    class Meta:
        model = BatchConfiguration
        fields = ("position", "label", "template_version", "provider", "model", "temperature")
        read_only_fields = fields


class BatchCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Rows: input rows × configurations.")
    queued = serializers.IntegerField()
    running = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    done = serializers.IntegerField()
    percent = serializers.IntegerField()


class BatchLinksSerializer(serializers.Serializer):
    self = serializers.CharField()
    events = serializers.CharField()
    rows = serializers.CharField()
    results = serializers.CharField()
    cancel = serializers.CharField()
    retry = serializers.CharField()
    page = serializers.CharField()


class BatchSerializer(serializers.ModelSerializer):
    """A batch: its state, configurations and counts (kept by the database as rows end)."""

    template = serializers.SlugField(source="template.slug", read_only=True)
    configurations = BatchConfigurationSerializer(many=True, read_only=True)
    counts = serializers.SerializerMethodField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6, read_only=True)
    time_left = serializers.SerializerMethodField(
        help_text="Seconds, estimated from the rows finished so far."
    )
    links = serializers.SerializerMethodField()

    class Meta:
        model = Batch
        fields = (
            "id",
            "state",
            "template",
            "source_name",
            "concurrency",
            "rows_per_minute",
            "configurations",
            "counts",
            "input_tokens",
            "output_tokens",
            "cost",
            "unpriced",
            "time_left",
            "created_at",
            "started_at",
            "finished_at",
            "links",
        )
        read_only_fields = fields

    @extend_schema_field(BatchCountsSerializer)
    def get_counts(self, obj: Batch) -> dict[str, int]:
        return obj.progress.counts()

    def get_time_left(self, obj: Batch) -> int | None:
        left = obj.time_left
        return None if left is None else int(left.total_seconds())

    @extend_schema_field(BatchLinksSerializer)
    def get_links(self, obj: Batch) -> dict[str, str]:
        return {
            "self": reverse("api:batch-detail", args=[obj.pk]),
            "events": reverse("api:batch-events", args=[obj.pk]),
            "rows": reverse("api:batch-rows", args=[obj.pk]),
            "results": reverse("api:batch-results", args=[obj.pk]),
            "cancel": reverse("api:batch-cancel", args=[obj.pk]),
            "retry": reverse("api:batch-retry", args=[obj.pk]),
            "page": reverse("batches:detail", args=[obj.pk]),
        }


class BatchRowSerializer(serializers.ModelSerializer):
    """A row of a batch under one configuration, and its job's answer once it has one."""

    configuration = serializers.IntegerField(source="configuration.position", read_only=True)
    job = serializers.UUIDField(source="job_id", read_only=True, allow_null=True)
    output = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    # Null while the row has no job (and a job's own nulls: unknown price, no usage yet).
    input_tokens = serializers.IntegerField(source="job.input_tokens", read_only=True, allow_null=True)
    output_tokens = serializers.IntegerField(source="job.output_tokens", read_only=True, allow_null=True)
    cost = serializers.DecimalField(
        source="job.cost", max_digits=12, decimal_places=6, read_only=True, allow_null=True
    )

    class Meta:
        model = BatchRow
        fields = (
            "number",
            "configuration",
            "status",
            "inputs",
            "job",
            "output",
            "error",
            "input_tokens",
            "output_tokens",
            "cost",
        )
        read_only_fields = fields

    def get_output(self, obj: BatchRow) -> str | None:
        return obj.job.output if obj.job is not None and obj.job.is_terminal else None

    def get_error(self, obj: BatchRow) -> str | None:
        return obj.error_text or None


class ConfigurationChoiceSerializer(StrictFieldsMixin, serializers.Serializer):
    """One configuration to run the rows under; whatever is left out is the published
    version's own."""

    provider = serializers.CharField(max_length=40, required=False, validators=[validate_provider_name])
    model = serializers.CharField(
        max_length=100,
        required=False,
        help_text="One the template's allowed_models lists (with a price), or its own.",
    )
    temperature = serializers.DecimalField(
        max_digits=3, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("2"), required=False
    )
    version = serializers.IntegerField(
        min_value=1,
        max_value=2_147_483_647,
        required=False,
        help_text="A version number of the template (a draft only for those who manage it).",
    )
    label = serializers.CharField(max_length=120, required=False, allow_blank=True)


class BatchCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    rows = serializers.ListField(
        child=serializers.DictField(child=serializers.JSONField()),
        min_length=1,
        max_length=MAX_JSON_ROWS,
        help_text="One object of inputs per row, validated as the template's form validates them.",
    )
    configurations = ConfigurationChoiceSerializer(
        many=True,
        required=False,
        max_length=MAX_CONFIGURATIONS,
        help_text="Up to four: a comparison when two or more. Left out: the template's own settings.",
    )
    concurrency = serializers.IntegerField(
        min_value=1, max_value=1000, required=False, allow_null=True, help_text="Capped by your plan."
    )
    rows_per_minute = serializers.IntegerField(
        min_value=1, max_value=100_000, required=False, allow_null=True, help_text="Null: no limit."
    )


class JSONTextField(serializers.CharField):
    """A JSON value sent as the text of a multipart field."""

    def __init__(self, *, kind: type, **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        import json

        text = super().to_internal_value(data)
        try:
            value = json.loads(text)
        except ValueError:
            self.fail("invalid")
        if not isinstance(value, self.kind):
            self.fail("invalid")
        return value


class MappingField(JSONTextField):
    """Column header → parameter name (or null: the column is left out)."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not all(
            isinstance(key, str) and (name is None or isinstance(name, str)) for key, name in value.items()
        ):
            raise serializers.ValidationError(
                _("Each column must map to the name of a parameter (a text), or to null to leave it out.")
            )
        return value


class BatchUploadSerializer(StrictFieldsMixin, serializers.Serializer):
    file = serializers.FileField(help_text="CSV, XLSX or JSON Lines; the first line names the columns.")
    # Blank allowed, meaning none chosen: a multipart form's empty field leaves it out.
    sheet = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="The sheet of a workbook with several (empty: none chosen).",
    )
    mapping = MappingField(
        kind=dict,
        max_length=20_000,
        required=False,
        help_text=(
            "A JSON object, column header → parameter name, for columns not named as a parameter: "
            '{"Subject": "topic"}.'
        ),
    )
    configurations = JSONTextField(
        kind=list,
        max_length=20_000,
        required=False,
        help_text="A JSON list of configurations, as in the JSON body.",
    )
    concurrency = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    rows_per_minute = serializers.IntegerField(min_value=1, max_value=100_000, required=False)

    def validate_configurations(self, value: list[Any]) -> list[dict[str, Any]]:
        nested = ConfigurationChoiceSerializer(data=value, many=True, max_length=MAX_CONFIGURATIONS)
        nested.is_valid(raise_exception=True)
        return nested.validated_data


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="1-based; a file's header line is not counted.")
    column = serializers.CharField(
        help_text="The column (or parameter) the error is about; empty for the row."
    )
    message = serializers.CharField()
