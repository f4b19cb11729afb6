"""A workflow run's steps: one row per step (and per item of a ``for_each`` step).

The rows are the run's durable state: the orchestrator (``orchestration.py``) changes
them only while it holds the parent job's row lock, so an advance, a cancel and a retry
of one run never interleave. A terminal row is never run again, which is what makes a
run that lost its worker resume without calling a finished step's provider twice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..errors import describe_error


class StepStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    RUNNING = "running", _("Running")
    SKIPPED = "skipped", _("Skipped")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


STEP_TERMINAL_STATUSES = frozenset(
    {StepStatus.SKIPPED, StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED}
)
# What a step that needs this one may go on from.
STEP_DONE_STATUSES = frozenset({StepStatus.SKIPPED, StepStatus.SUCCEEDED})


class JobStep(models.Model):
    """One step of a workflow run, or one item of a ``for_each`` step (``item`` set).

    A ``for_each`` step has a whole row (``item`` empty: its status, and its output the
    list of its items' outputs) and a row per item. ``job`` is the child job that ran a
    prompt step's call (the latest, after a JSON answer asked again); transforms and
    skipped steps have none. Tokens and cost add up every call the row made.
    """

    run = models.ForeignKey(
        "jobs.Job", verbose_name=_("run"), on_delete=models.CASCADE, related_name="steps", db_index=False
    )
    name = models.CharField(_("step"), max_length=40)
    position = models.PositiveSmallIntegerField(_("position"))
    item = models.PositiveIntegerField(_("item"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=StepStatus.choices, default=StepStatus.WAITING
    )
    job = models.ForeignKey(
        "jobs.Job",
        verbose_name=_("job"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    output = models.TextField(_("output"), blank=True)
    output_data = models.JSONField(_("output value"), null=True, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    input_tokens = models.PositiveIntegerField(_("input tokens"), null=True, blank=True)
    output_tokens = models.PositiveIntegerField(_("output tokens"), null=True, blank=True)
    cost = models.DecimalField(_("cost (USD)"), max_digits=12, decimal_places=6, null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    tries = models.PositiveSmallIntegerField(
        _("tries"),
        default=0,
        help_text=_("Calls made for this step: a JSON answer that did not parse is asked again once."),
    )

    class Meta:
        verbose_name = _("workflow step")
        verbose_name_plural = _("workflow steps")
        ordering = ("run", "position", "item")
        # NULLs are distinct in a plain unique constraint: the whole row has one of its own.
        constraints = [
            models.UniqueConstraint(
                fields=["run", "name", "item"], condition=Q(item__isnull=False), name="jobstep_item_key"
            ),
            models.UniqueConstraint(
                fields=["run", "name"], condition=Q(item__isnull=True), name="jobstep_key"
            ),
        ]
        indexes = [
            # SET NULL when a child job is deleted, and the step of a child (its page's link back).
            models.Index(fields=["job"], condition=Q(job__isnull=False), name="jobstep_job"),
        ]

    def __str__(self) -> str:
        return self.name if self.item is None else f"{self.name}[{self.item}]"

    @property
    def is_terminal(self) -> bool:
        return self.status in STEP_TERMINAL_STATUSES

    @property
    def error_text(self) -> str:
        """The step's error, translated, for people."""
        return describe_error(self.error_code, self.error_message)

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    @property
    def duration(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def add_usage(self, input_tokens: int | None, output_tokens: int | None, cost: Decimal | None) -> None:
        """Count one more call's spending (a JSON retry adds to the first call's)."""
        first = self.input_tokens is None and self.output_tokens is None
        self.input_tokens = (self.input_tokens or 0) + (input_tokens or 0)
        self.output_tokens = (self.output_tokens or 0) + (output_tokens or 0)
        # Unknown stays unknown: a sum with an unpriced call is no price.
        if first:
            self.cost = cost
        elif self.cost is not None:
            self.cost = None if cost is None else self.cost + cost

    def event(self) -> dict[str, Any]:
        """The ``step`` event of the workflow stream (jobs.streaming.read_workflow_events)."""
        return {
            "type": "step",
            "step": self.name,
            "item": self.item,
            "status": self.status,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": None if self.cost is None else str(self.cost),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error_code": self.error_code,
            "error": self.error_text,
            "job": str(self.job_id) if self.job_id else None,
        }
