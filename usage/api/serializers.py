from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..figures import FIRST_YEAR, GROUPINGS, LAST_YEAR, MAX_DAYS, MAX_HOURS, Period


class GivenValueMixin:
    """DRF reads an empty query value (`from=`) as not given, and applies the default: it
    is a value the caller sent, and an invalid one (a 400, as the OpenAPI document says)."""

    field_name: str

    def get_value(self, dictionary: Any) -> Any:
        return dictionary.get(self.field_name, serializers.empty)


class MomentField(GivenValueMixin, serializers.DateTimeField):
    """An ISO 8601 date-time, or a date meaning its midnight in the server's time zone."""

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str) and len(value) == 10:
            day = serializers.DateField().to_internal_value(value)
            moment = timezone.make_aware(datetime.combine(day, time.min))
        else:
            moment = super().to_internal_value(value)
        # Far from datetime's limits, so that widening to whole hours and the 30-day default can't overflow.
        if not FIRST_YEAR <= moment.year <= LAST_YEAR:
            raise serializers.ValidationError(
                _("Must be in the years %(first)d to %(last)d.") % {"first": FIRST_YEAR, "last": LAST_YEAR}
            )
        return moment


class GroupingField(GivenValueMixin, serializers.ChoiceField):
    pass


class StatsQuerySerializer(serializers.Serializer):
    from_ = MomentField(
        required=False, help_text=_("Start (ISO 8601 date or date-time); 30 days before `to` by default.")
    )
    to = MomentField(
        required=False, help_text=_("End, excluded (ISO 8601 date or date-time); now by default.")
    )
    group_by = GroupingField(choices=GROUPINGS, default="day")

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # a Python keyword
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("to") or timezone.now()
        start = attrs.get("from") or end - timedelta(days=30)
        if start >= end:
            raise serializers.ValidationError({"from": [_("Must be before “to”.")]})
        period = Period.around(start, end)
        limit = MAX_HOURS if attrs["group_by"] == "hour" else MAX_DAYS * 24
        if period.hours > limit:
            raise serializers.ValidationError(
                {"to": [_("At most %(days)d days at a time for this grouping.") % {"days": limit // 24}]}
            )
        attrs["period"] = period
        return attrs


class StatsFiguresSerializer(serializers.Serializer):
    runs = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(
        max_digits=16, decimal_places=6, help_text=_("USD; runs of unknown price add nothing.")
    )
    cached = serializers.IntegerField(help_text=_("Runs answered from a recent identical result."))
    coalesced = serializers.IntegerField(help_text=_("Runs answered together with an identical run."))
    calls_saved = serializers.IntegerField(help_text=_("Provider calls not made: cached plus coalesced."))
    cost_saved = serializers.DecimalField(
        max_digits=16, decimal_places=6, help_text=_("USD the saved calls would have cost.")
    )
    ttft_p50_ms = serializers.IntegerField(
        allow_null=True, help_text=_("Median time to first token (estimated from a histogram).")
    )
    ttft_p95_ms = serializers.IntegerField(allow_null=True)
    duration_p50_ms = serializers.IntegerField(allow_null=True)
    duration_p95_ms = serializers.IntegerField(allow_null=True)


class StatsGroupSerializer(StatsFiguresSerializer):
    group = serializers.CharField(
        allow_null=True,
        help_text=_(
            "The day (YYYY-MM-DD), hour (ISO 8601), template slug, provider/model, or person's e-mail "
            "(null for visitors who were not signed in)."
        ),
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["group"] = (
            None
            if instance.group is None
            else (instance.group.isoformat() if hasattr(instance.group, "isoformat") else str(instance.group))
        )
        return data


class StatsSerializer(serializers.Serializer):
    from_ = serializers.DateTimeField(source="start")
    to = serializers.DateTimeField(source="end")
    group_by = serializers.CharField()
    groups = StatsGroupSerializer(many=True)
    total = StatsFiguresSerializer()

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields
