from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


def input_hash(*, version_id: int, model_settings: dict[str, Any], inputs: dict[str, Any]) -> str:
    """The hash of everything that determines a job's result.

    Canonical JSON (sorted keys, no whitespace) so that equal inputs given in
    any order hash alike.
    """
    payload = {"version": version_id, "settings": model_settings, "inputs": inputs}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class JobQuerySet(models.QuerySet["Job"]):
    def visible_to(self, user: Any, session_key: str | None) -> JobQuerySet:
        """A signed-in user's own jobs, or an anonymous visitor's jobs of this browser session."""
        if user is not None and user.is_authenticated:
            return self.filter(owner=user)
        if not session_key:
            return self.none()
        return self.filter(owner__isnull=True, session_key=session_key)

    def adopt_anonymous(self, session_key: str | None, user: Any) -> int:
        """Give jobs run before signing in to the account that just signed in."""
        if not session_key:
            return 0
        return self.filter(owner__isnull=True, session_key=session_key).update(owner=user, session_key="")


class Job(models.Model):
    """One generation: a template version run on some inputs by a provider."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template_version = models.ForeignKey(
        "templates_app.TemplateVersion",
        verbose_name=_("template version"),
        on_delete=models.PROTECT,
        related_name="jobs",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="jobs",
    )
    session_key = models.CharField(_("browser session"), max_length=64, blank=True, db_index=True)
    inputs = models.JSONField(_("inputs"), default=dict)
    input_hash = models.CharField(_("input hash"), max_length=64, db_index=True)
    system_prompt = models.TextField(_("rendered system prompt"), blank=True)
    prompt = models.TextField(_("rendered prompt"))
    provider = models.CharField(_("provider"), max_length=40)
    model = models.CharField(_("model"), max_length=100)
    status = models.CharField(_("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    output = models.TextField(_("output"), blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    input_tokens = models.PositiveIntegerField(_("input tokens"), null=True, blank=True)
    output_tokens = models.PositiveIntegerField(_("output tokens"), null=True, blank=True)
    cost = models.DecimalField(
        _("cost (USD)"),
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text=_("Empty when the model's price is unknown."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="job_owner_recent"),
            models.Index(fields=["session_key", "-created_at"], name="job_session_recent"),
            models.Index(fields=["status", "created_at"], name="job_status_age"),
        ]

    def __str__(self) -> str:
        return str(self.id)

    def get_absolute_url(self) -> str:
        return reverse("jobs:detail", args=[self.id])

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    # State changes are conditional UPDATEs: whoever changes the row first
    # wins, and the loser learns it from the row count.
    def _transition(self, allowed: set[str] | frozenset[str], **changes: Any) -> bool:
        updated = Job.objects.filter(pk=self.pk, status__in=allowed).update(**changes)
        if updated:
            self.refresh_from_db()
        return bool(updated)

    def claim(self) -> bool:
        """Take a queued job for running; False if it is not queued any more."""
        return self._transition(
            {JobStatus.QUEUED},
            status=JobStatus.RUNNING,
            started_at=timezone.now(),
            attempts=F("attempts") + 1,
            output="",
        )

    def save_progress(self, output: str) -> bool:
        """Persist partial output; False if the job stopped running (cancelled)."""
        return bool(Job.objects.filter(pk=self.pk, status=JobStatus.RUNNING).update(output=output))

    def mark_succeeded(
        self, *, output: str, input_tokens: int | None, output_tokens: int | None, cost: Decimal | None
    ) -> bool:
        return self._transition(
            {JobStatus.RUNNING},
            status=JobStatus.SUCCEEDED,
            output=output,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            finished_at=timezone.now(),
        )

    def mark_failed(self, *, code: str, message: str, output: str | None = None) -> bool:
        changes: dict[str, Any] = {
            "status": JobStatus.FAILED,
            "error_code": code,
            "error_message": message,
            "finished_at": timezone.now(),
        }
        if output is not None:
            changes["output"] = output
        return self._transition({JobStatus.QUEUED, JobStatus.RUNNING}, **changes)

    def cancel(self) -> bool:
        return self._transition(
            {JobStatus.QUEUED, JobStatus.RUNNING},
            status=JobStatus.CANCELLED,
            finished_at=timezone.now(),
        )

    def record_partial_usage(
        self, *, output: str, input_tokens: int | None, output_tokens: int | None
    ) -> None:
        """After a cancel: keep the text and tokens spent so far."""
        Job.objects.filter(pk=self.pk).update(
            output=output, input_tokens=input_tokens, output_tokens=output_tokens
        )
