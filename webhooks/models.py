"""Webhook endpoints, their deliveries (one per event and endpoint) and each attempt.

A delivery is sent by the worker (webhooks/tasks.py) under the Standard Webhooks
specification: the same ``webhook-id`` on every attempt of one delivery, a
``webhook-timestamp`` and ``webhook-signature`` (HMAC-SHA256 with the endpoint's
secret over ``id.timestamp.body``) made for each attempt.

State changes are conditional UPDATEs, as a job's (jobs/models.py): a worker claims an
attempt only while the delivery is pending and due, and the claim moves it out of
reach of any other message (a retry's countdown, the sweep's resend, a redelivered
message) for WEBHOOKS_ATTEMPT_LEASE seconds; so one attempt is made at a time, and a
duplicate message finds nothing to claim.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from standardwebhooks.webhooks import Webhook

from . import egress
from .events import EVENTS

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def retry_delays() -> tuple[float, ...]:
    return settings.WEBHOOKS_RETRY_DELAYS


def max_attempts() -> int:
    """The first attempt and one per retry delay."""
    return 1 + len(retry_delays())


class WebhookEndpoint(models.Model):
    # Deleted by the database, as its deliveries are (below): Django allows no Python
    # cascade above a database one.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.DB_CASCADE,
        related_name="webhooks",
    )
    url = models.CharField(_("URL"), max_length=egress.URL_MAX_LENGTH)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("events"), default=list)
    # Kept as written: every delivery is signed with it. Shown once, when made.
    secret = models.CharField(_("signing secret"), max_length=100, default=new_secret)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    secret_rotated_at = models.DateTimeField(_("secret changed"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ("-created_at", "-pk")
        indexes = [
            # The receiver's lookup on every finished job, and the owner's list.
            models.Index(fields=["owner"], condition=models.Q(is_active=True), name="webhook_owner_active"),
        ]

    def __str__(self) -> str:
        return self.url

    def get_absolute_url(self) -> str:
        return reverse("webhooks:detail", args=[self.pk])

    @property
    def event_labels(self) -> list[str]:
        return [str(event.label) for event in EVENTS if event.name in self.events]

    def subscribes_to(self, event_name: str) -> bool:
        return self.is_active and event_name in self.events

    def rotate_secret(self) -> str:
        """A new secret, in force at once: deliveries from now on are signed with it."""
        self.secret = new_secret()
        self.secret_rotated_at = timezone.now()
        self.save(update_fields=["secret", "secret_rotated_at"])
        return self.secret

    def signed_headers(self, message_id: str, body: str, at: datetime) -> dict[str, str]:
        at = at.astimezone(UTC)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(self.secret).sign(message_id, at, body),
        }


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(models.Model):
    """One event for one endpoint: its payload as first made, and the attempts to send it."""

    # Deleted by the database with its endpoint, not by Django's collector: the worker makes
    # deliveries (a job's finish) and attempts (a send) while a person deletes the endpoint,
    # and a row committed between the collector's reads and its deletes made the endpoint's
    # DELETE fail its foreign key check (a 500). The database's cascade sees every row.
    endpoint = models.ForeignKey(
        WebhookEndpoint, verbose_name=_("endpoint"), on_delete=models.DB_CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(_("event"), max_length=64)
    # The Standard Webhooks message id: the same on every attempt and redelivery, so a
    # receiver can tell a repeat; made from the event and its subject, so the same event
    # can't make a second delivery for the endpoint (the unique constraint below).
    message_id = models.CharField(_("message id"), max_length=64)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempt_count = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # The attempts this delivery may make in all: the schedule's, then one more for each
    # redelivery asked for.
    attempt_limit = models.PositiveSmallIntegerField(_("attempt limit"), default=max_attempts)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True, default=timezone.now)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ("-created_at", "-pk")
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "message_id"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_recent"),
            # The sweep: pending deliveries only.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhook_delivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id}"

    @staticmethod
    def message_id_for(event_type: str, subject_id: Any) -> str:
        return "msg_" + uuid.uuid5(uuid.NAMESPACE_URL, f"promptlab:{event_type}:{subject_id}").hex

    @property
    def body(self) -> str:
        """The payload as sent: the same bytes on every attempt (the signature covers them)."""
        return json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)

    @property
    def body_for_people(self) -> str:
        return json.dumps(self.payload, indent=2, ensure_ascii=False, sort_keys=True)

    @property
    def last_attempt(self) -> WebhookAttempt | None:
        attempts = list(self.attempts.all())
        return attempts[-1] if attempts else None

    def claim(self) -> int | None:
        """Take the next attempt; its number, or None if it isn't ours to make now."""
        now = timezone.now()
        lease = now + timedelta(seconds=settings.WEBHOOKS_ATTEMPT_LEASE)
        claimed = (
            WebhookDelivery.objects.filter(
                pk=self.pk, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
            )
            .filter(attempt_count__lt=F("attempt_limit"))
            .update(attempt_count=F("attempt_count") + 1, next_attempt_at=lease)
        )
        if not claimed:
            return None
        self.refresh_from_db()
        return self.attempt_count

    def attempt(self, number: int, *, resolver: egress.Resolver | None = None) -> WebhookAttempt:
        """Make attempt ``number`` (claimed): post, record it, and settle what comes next."""
        started = timezone.now()
        body = self.body
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "PromptLab-Webhooks/1",
            **self.endpoint.signed_headers(self.message_id, body, started),
        }
        outcome = egress.post(self.endpoint.url, body.encode(), headers, resolver=resolver)
        with transaction.atomic():
            attempt = WebhookAttempt.objects.create(
                delivery=self,
                number=number,
                started_at=started,
                status_code=outcome.status_code,
                response_excerpt=outcome.response_excerpt,
                duration_ms=outcome.duration_ms,
                error_code=outcome.error_code,
                error=outcome.error[:1000],
                address=outcome.address,
            )
            self._settle(number, outcome.succeeded)
        return attempt

    def _settle(self, number: int, succeeded: bool) -> None:
        rows = WebhookDelivery.objects.filter(pk=self.pk, status=DeliveryStatus.PENDING, attempt_count=number)
        now = timezone.now()
        if succeeded:
            rows.update(status=DeliveryStatus.SUCCEEDED, next_attempt_at=None, finished_at=now)
        elif number >= self.attempt_limit:
            rows.update(status=DeliveryStatus.FAILED, next_attempt_at=None, finished_at=now)
        else:
            rows.update(next_attempt_at=now + timedelta(seconds=self.retry_delay(number)))
        self.refresh_from_db()

    @staticmethod
    def retry_delay(number: int) -> float:
        """Seconds after failed attempt ``number`` before the next (a redelivery past the
        schedule waits as long as the schedule's last delay)."""
        delays = retry_delays()
        return delays[min(number - 1, len(delays) - 1)]

    def redeliver(self) -> bool:
        """One more attempt, now, of a delivery that has ended (delivered or failed);
        False while one is pending."""
        updated = (
            WebhookDelivery.objects.filter(pk=self.pk)
            .exclude(status=DeliveryStatus.PENDING)
            .update(
                status=DeliveryStatus.PENDING,
                attempt_limit=F("attempt_count") + 1,
                next_attempt_at=timezone.now(),
                finished_at=None,
            )
        )
        self.refresh_from_db()
        return bool(updated)


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, verbose_name=_("delivery"), on_delete=models.DB_CASCADE, related_name="attempts"
    )
    number = models.PositiveSmallIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started"))
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    response_excerpt = models.TextField(_("response (start)"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    error = models.TextField(_("error"), blank=True)
    address = models.CharField(_("address connected to"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ("number", "pk")

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"

    @property
    def succeeded(self) -> bool:
        return not self.error_code

    @property
    def error_label(self) -> str:
        """What went wrong, for people (the code's meaning; ``error`` has the detail)."""
        return str(egress.ERROR_CODES.get(self.error_code, self.error_code))
