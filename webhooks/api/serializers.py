from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from promptlab.api import StrictFieldsMixin

from .. import egress
from ..events import EVENTS
from ..models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class JSONBooleanField(serializers.BooleanField):
    """true or false as JSON has them: not the strings and numbers DRF also takes."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class WebhookEndpointSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    url = serializers.CharField(
        max_length=egress.URL_MAX_LENGTH,
        help_text=_("https:// (http:// only where WEBHOOKS_ALLOW_HTTP is on), reaching a public address."),
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=[]),
        allow_empty=False,
        max_length=20,
        help_text=_("The events to send (GET webhooks/event-types lists them)."),
    )
    is_active = JSONBooleanField(
        default=True, help_text=_("Off, events are not sent (nor kept to send later).")
    )
    secret = serializers.SerializerMethodField(
        help_text=_(
            "The signing secret (whsec_…): only in the answers that make it, creation and rotate-secret."
        )
    )
    links = serializers.SerializerMethodField()

    class Meta:
        model = WebhookEndpoint
        fields = (
            "id",
            "url",
            "description",
            "events",
            "is_active",
            "created_at",
            "secret_rotated_at",
            "secret",
            "links",
        )
        read_only_fields = ("id", "created_at", "secret_rotated_at", "secret", "links")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read when the serializer is made, so that events registered later are offered too.
        self.fields["events"].child.choices = EVENTS.choices()

    def validate_url(self, value: str) -> str:
        problems = egress.url_problems(value.strip())
        if problems:
            raise serializers.ValidationError(problems)
        return value.strip()

    def validate_events(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_secret(self, obj: WebhookEndpoint) -> str | None:
        return obj.secret if self.context.get("show_secret") else None

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_links(self, obj: WebhookEndpoint) -> dict[str, str]:
        return {
            "self": reverse("api:webhook-detail", args=[obj.pk]),
            "deliveries": reverse("api:webhook-delivery-list", args=[obj.pk]),
            "page": reverse("webhooks:detail", args=[obj.pk]),
        }


class WebhookAttemptSerializer(serializers.ModelSerializer):
    error_message = serializers.CharField(source="error_label", read_only=True)

    class Meta:
        model = WebhookAttempt
        fields = (
            "number", "started_at", "status_code", "duration_ms", "response_excerpt",
            "error_code", "error_message", "error", "address",
        )  # fmt: skip
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    attempts = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = (
            "id", "event_type", "message_id", "status", "attempt_count", "next_attempt_at",
            "created_at", "finished_at", "payload", "attempts",
        )  # fmt: skip
        read_only_fields = fields


class EventTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
