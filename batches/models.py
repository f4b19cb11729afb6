"""Batches: one template run over many rows, each row answered by a normal Job.

A batch has one to four configurations (a plain batch one; a comparison more), and a
``BatchRow`` per input row and configuration: the row's place is this record pointing
at its job, not columns on Job, which would make jobs know about the app above it
(docs/architecture.md, "Batches"). Identical rows of one configuration share one job
(their ``input_key``), so they cost one provider call.

The batch's counters are changed only by conditional ``F()`` UPDATEs: when rows are
written, when the dispatcher gives rows a job (``batches.services.dispatch``), and in the
same transaction as each job's terminal change (the ``job_finished`` receiver), so they
never disagree with the rows and are never recounted by scanning them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from jobs.errors import MESSAGES as JOB_ERRORS
from jobs.errors import describe_error


class BatchState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")
    CANCELLED = "cancelled", _("Cancelled")


class RowStatus(models.TextChoices):
    PENDING = "pending", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


# A job's terminal status → its rows' status (the values are the same words).
FINAL_ROW_STATUSES = frozenset({RowStatus.SUCCEEDED, RowStatus.FAILED, RowStatus.CANCELLED})
MAX_CONFIGURATIONS = 4
# The first errors a draft keeps for its review page (the total is counted, not kept).
MAX_KEPT_ERRORS = 1000
THROTTLE_WINDOW = timedelta(seconds=60)

# Why a row failed without a job, by code: the row keeps the code and its parameters
# (``BatchRow.error_code``, ``error_params``) and ``BatchRow.error_text`` words them in the
# reader's language when shown, not in the worker's when the row failed.
ROW_ERRORS: dict[str, Any] = {
    "template_unavailable": _(
        "This template is no longer available to you (deleted, or no longer shared with you), "
        "so its rows can't run."
    ),
    "version_not_published": _(
        "The version of the template this batch runs is no longer its published version, so its rows "
        "can't run. Start a new batch to run the published one."
    ),
    # SubmissionErrors of jobs.services, with what batches.services._submission_error keeps.
    "model_not_priced": _("“%(choice)s” has no price on this PromptLab any more, so this row can't run."),
    "model_not_allowed": _("This template no longer allows running on “%(choice)s”, so this row can't run."),
    "provider_unavailable": _("The provider “%(provider)s” is not configured here, so this can't run."),
    "render_error": _("This template could not be filled in: %(problem)s"),
    "submission_failed": _(
        "This row could not be started because of an unexpected error, which was logged. Retrying the "
        "failed rows may help."
    ),
}


def upload_storage() -> FileSystemStorage:
    """Drafts' uploaded files, under the var directory (a callable, so that the path is
    read from the settings when used, not written into a migration)."""
    return FileSystemStorage(location=settings.VAR_DIR / "batch-uploads")


def default_concurrency() -> int:
    return settings.BATCH_CONCURRENCY


def row_key(configuration_id: int, inputs: dict[str, Any]) -> str:
    """What makes two rows the same work: the configuration and the inputs, as canonical
    JSON (sorted keys), so that equal inputs in any column order share one job."""
    payload = {"configuration": configuration_id, "inputs": inputs}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Progress:
    """A batch's figures for people and for its progress events."""

    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    done: int
    percent: int

    def counts(self) -> dict[str, int]:
        """The figures by name: the API's ``counts`` and the progress events' fields."""
        return asdict(self)


class BatchQuerySet(models.QuerySet["Batch"]):
    def owned_by(self, user: Any) -> BatchQuerySet:
        """A signed-in user's own batches (anonymous visitors have none)."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)


class Batch(models.Model):
    """A template run on the rows of a file (or pasted, or posted), under 1–4 configurations."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey(
        "templates_app.Template", verbose_name=_("template"), on_delete=models.PROTECT, related_name="batches"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="batches",
        db_index=False,  # batch_owner_recent below serves the lookups by owner
    )
    state = models.CharField(
        _("state"), max_length=16, choices=BatchState.choices, default=BatchState.RUNNING
    )
    concurrency = models.PositiveSmallIntegerField(
        _("rows at once"),
        default=default_concurrency,
        help_text=_("How many of the batch's rows may run at the same time."),
    )
    rows_per_minute = models.PositiveIntegerField(
        _("rows per minute"),
        null=True,
        blank=True,
        help_text=_("Start at most this many rows a minute; empty for no limit."),
    )
    source_name = models.CharField(_("source"), max_length=255, blank=True)
    # The input columns in file order (exports write them first), the file's header →
    # parameter mapping, and the sheet of a workbook.
    columns = models.JSONField(_("columns"), default=list, blank=True)
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    sheet = models.CharField(_("sheet"), max_length=100, blank=True)
    # A draft's validation summary (the rows aren't written until it starts).
    valid_rows = models.PositiveIntegerField(_("valid rows"), default=0)
    invalid_rows = models.PositiveIntegerField(_("invalid rows"), default=0)
    blank_lines = models.PositiveIntegerField(_("blank lines"), default=0)
    # For the review page's estimate, kept so it needs no second read of the file.
    distinct_rows = models.PositiveIntegerField(_("distinct rows"), default=0)
    prompt_characters = models.PositiveBigIntegerField(_("prompt characters"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    source = models.FileField(
        _("uploaded file"), upload_to="drafts/%Y/%m/%d/", storage=upload_storage, max_length=255, blank=True
    )
    # The counters (see the module's docstring): rows, not inputs; a comparison has a row
    # per input and configuration.
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    pending = models.PositiveIntegerField(_("queued"), default=0)
    running = models.PositiveIntegerField(_("running"), default=0)
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    cancelled = models.PositiveIntegerField(_("cancelled"), default=0)
    input_tokens = models.PositiveBigIntegerField(_("input tokens"), default=0)
    output_tokens = models.PositiveBigIntegerField(_("output tokens"), default=0)
    cost = models.DecimalField(_("cost (USD)"), max_digits=14, decimal_places=6, default=Decimal("0"))
    unpriced = models.PositiveIntegerField(
        _("runs without a price"),
        default=0,
        help_text=_("Provider calls whose model has no price: not in the cost."),
    )
    # The rows-per-minute throttle's window: when it began and how many jobs started in
    # it (a fixed window on the batch's own row, changed under its lock: no scan).
    window_started_at = models.DateTimeField(_("throttle window start"), null=True, blank=True)
    window_count = models.PositiveIntegerField(_("started in the throttle window"), default=0)
    # Since when the owner's cap on batch jobs in flight (across all their batches) holds
    # this batch's rows back; null when it does not. The owner's freed slots go to the
    # batch held longest first (batches.services.dispatch).
    held_since = models.DateTimeField(_("held back since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = BatchQuerySet.as_manager()

    class Meta:
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
        ordering = ("-created_at",)
        indexes = [
            # "My batches", and the owner's deletion (CASCADE).
            models.Index(fields=["owner", "-created_at"], name="batch_owner_recent"),
            # The sweep: batches still at work (cancelled ones while their jobs stop).
            models.Index(
                fields=["state"],
                condition=models.Q(state="running") | models.Q(state="cancelled", running__gt=0),
                name="batch_active",
            ),
            # The owner's batches at work (their jobs in flight, the ones held back).
            models.Index(
                fields=["owner", "held_since"],
                condition=models.Q(state="running") | models.Q(state="cancelled", running__gt=0),
                name="batch_owner_active",
            ),
            # Drafts' expiry.
            models.Index(fields=["created_at"], condition=models.Q(state="draft"), name="batch_draft_age"),
        ]

    def __str__(self) -> str:
        return f"{self.template} · {self.source_name or self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("batches:detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        """Rows still to run (a draft is not started yet: not active)."""
        return self.state == BatchState.RUNNING

    @property
    def is_comparison(self) -> bool:
        return self.configurations.count() > 1

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.cancelled

    @property
    def progress(self) -> Progress:
        total = self.total_rows
        return Progress(
            total=total,
            queued=self.pending,
            running=self.running,
            succeeded=self.succeeded,
            failed=self.failed,
            cancelled=self.cancelled,
            done=self.done,
            percent=int(100 * self.done / total) if total else 0,
        )

    def record_check(
        self,
        *,
        sheet: str,
        mapping: dict[str, Any],
        columns: list[str],
        valid_rows: int,
        invalid_rows: int,
        blank_lines: int,
        errors: list[dict[str, Any]],
        warnings: list[str],
        distinct_rows: int = 0,
        prompt_characters: int = 0,
    ) -> bool:
        """A draft checked again (a sheet chosen, columns mapped): its new summary. False
        once it is no draft (started, cancelled or expired meanwhile): nothing changes."""
        changes = {
            "sheet": sheet,
            "mapping": dict(mapping),
            "columns": list(columns),
            "valid_rows": valid_rows,
            "invalid_rows": invalid_rows,
            "blank_lines": blank_lines,
            "errors": list(errors)[:MAX_KEPT_ERRORS],
            "warnings": list(warnings),
            "distinct_rows": distinct_rows,
            "prompt_characters": prompt_characters,
        }
        if not Batch.objects.filter(pk=self.pk, state=BatchState.DRAFT).update(**changes):
            return False
        for name, value in changes.items():
            setattr(self, name, value)
        return True

    def throttle_budget(self, now: Any) -> tuple[int | None, bool]:
        """Jobs the rows-per-minute throttle lets start now (None: no throttle), and whether
        they open a new window. Read under the batch's lock (the dispatcher's)."""
        if self.rows_per_minute is None:
            return None, False
        if self.window_started_at is None or now - self.window_started_at >= THROTTLE_WINDOW:
            return self.rows_per_minute, True
        return max(self.rows_per_minute - self.window_count, 0), False

    @property
    def time_left(self) -> timedelta | None:
        """An estimate from the rate of rows finished since the start; None before the first
        row ends, or once none are left."""
        left = self.pending + self.running
        if self.state != BatchState.RUNNING or not left or not self.done or self.started_at is None:
            return None
        elapsed = (timezone.now() - self.started_at).total_seconds()
        if elapsed <= 0:
            return None
        return timedelta(seconds=round(left * elapsed / self.done))


class BatchConfiguration(models.Model):
    """One way of running the batch's rows: a version, a provider and model, a temperature."""

    batch = models.ForeignKey(
        Batch,
        verbose_name=_("batch"),
        on_delete=models.CASCADE,
        related_name="configurations",
        db_index=False,
    )
    position = models.PositiveSmallIntegerField(_("position"))
    label = models.CharField(_("label"), max_length=120, blank=True)
    template_version = models.ForeignKey(
        "templates_app.TemplateVersion",
        verbose_name=_("template version"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    provider = models.CharField(_("provider"), max_length=40)
    model = models.CharField(_("model"), max_length=100)
    temperature = models.DecimalField(
        _("temperature"),
        max_digits=3,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Empty: the template version's."),
    )
    draft_run = models.BooleanField(
        _("draft test run"),
        default=False,
        help_text=_("Runs a version that is not the published one (its manager's comparison)."),
    )

    class Meta:
        verbose_name = _("batch configuration")
        verbose_name_plural = _("batch configurations")
        ordering = ("batch_id", "position")
        constraints = [
            models.UniqueConstraint(fields=["batch", "position"], name="batch_configuration_position"),
        ]

    def __str__(self) -> str:
        return self.label or f"{self.provider}/{self.model}"

    @property
    def run_temperature(self) -> Decimal:
        return self.temperature if self.temperature is not None else self.template_version.temperature


class BatchRow(models.Model):
    """One input row under one configuration, and the job that answers it."""

    batch = models.ForeignKey(
        Batch, verbose_name=_("batch"), on_delete=models.CASCADE, related_name="rows", db_index=False
    )
    # 1-based, the header not counted (the row a person sees in a spreadsheet is number + 1).
    number = models.PositiveIntegerField(_("row"))
    configuration = models.ForeignKey(
        BatchConfiguration, verbose_name=_("configuration"), on_delete=models.CASCADE, related_name="rows"
    )
    # The validated, cleaned inputs (what the form's cleaned_data gives), and the raw cells
    # as read, input columns first (for exports).
    inputs = models.JSONField(_("inputs"), default=dict)
    source = models.JSONField(_("source cells"), default=dict, blank=True)
    input_key = models.CharField(_("input key"), max_length=64)
    status = models.CharField(
        _("status"), max_length=16, choices=RowStatus.choices, default=RowStatus.PENDING
    )
    job = models.ForeignKey(
        "jobs.Job",
        verbose_name=_("job"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # batchrow_job below
    )
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)
    # Why a row failed without a job (its job could not be created); a job's own error
    # is the job's (``error_text``).
    error = models.TextField(_("error"), blank=True)
    # The same as a code of ROW_ERRORS and its parameters, worded when shown (``error``
    # then keeps the words as the worker wrote them, for codes without a template and for
    # rows older than these fields).
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_params = models.JSONField(_("error parameters"), default=dict, blank=True)

    class Meta:
        verbose_name = _("batch row")
        verbose_name_plural = _("batch rows")
        ordering = ("batch_id", "number", "configuration_id")
        constraints = [
            # Also the rows of a batch by number (the rows table, exports).
            models.UniqueConstraint(fields=["batch", "number", "configuration"], name="batch_row_once"),
        ]
        indexes = [
            # The dispatcher's next pending rows in order, in-flight rows, retry's failed
            # rows and the rows table filtered by status.
            models.Index(fields=["batch", "status", "number", "configuration"], name="batchrow_status_order"),
            # The receiver: the rows of the jobs that just finished (most jobs have none).
            models.Index(fields=["job"], condition=models.Q(job__isnull=False), name="batchrow_job"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id} #{self.number}"

    @property
    def error_text(self) -> str:
        """Why the row failed, translated, for people ("" when it did not)."""
        if self.error_code in ROW_ERRORS:
            try:
                return str(ROW_ERRORS[self.error_code]) % self.error_params
            except (KeyError, TypeError, ValueError):
                pass  # parameters the message does not have: the words kept
        if self.error_code in JOB_ERRORS and not self.error_params:
            return describe_error(self.error_code)
        if self.error:
            return self.error
        if self.status == RowStatus.FAILED and self.job is not None:
            return self.job.error_text
        return ""
