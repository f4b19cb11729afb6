from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from budgets import services as budgets
from templates_app.models import json_text_contains
from workspaces.models import Membership, Workspace

from . import telemetry
from .errors import describe_error
from .rollups import UsageRollup
from .signals import job_finished, job_usage_changed


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
# The job page's announcement of the end, a whole sentence per status: in Portuguese it
# agrees with "execução" (feminine), which "Job finished: {status label}" could not
# ("Execução terminada: Concluído").
FINAL_ANNOUNCEMENTS = {
    JobStatus.SUCCEEDED: pgettext_lazy("the job page announces", "Job finished: Succeeded."),
    JobStatus.FAILED: pgettext_lazy("the job page announces", "Job finished: Failed."),
    JobStatus.CANCELLED: pgettext_lazy("the job page announces", "Job finished: Cancelled."),
}
ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


def input_hash(
    *, version_id: int, model_settings: dict[str, Any], inputs: dict[str, Any], draft_run: bool = False
) -> str:
    """The hash of everything that determines a job's result.

    Canonical JSON (sorted keys, no whitespace) so that equal inputs given in
    any order hash alike. A draft's test run hashes apart (and published runs as
    before): a draft published later is the same version, and its author's trials
    must neither answer, nor be answered by, the runs of the people using its form.
    """
    payload: dict[str, Any] = {"version": version_id, "settings": model_settings, "inputs": inputs}
    if draft_run:
        payload["draft_run"] = True
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class JobQuerySet(models.QuerySet["Job"]):
    def runs(self) -> JobQuerySet:
        """Runs a person submitted: not the steps of a workflow run (its parts), which the
        run's page lists. Every list or count of a person's runs goes through here."""
        return self.filter(part_of__isnull=True)

    def visible_to(self, user: Any, session_key: str | None) -> JobQuerySet:
        """The jobs a person may see (every list, page, stream and API read of jobs asks here).

        A signed-in user's own jobs; and, in each workspace of theirs that lets its members
        see every job (``members_see_all_jobs``), the jobs its members ran with its
        templates: read-only (``is_run_by`` says who may act on one). Not the runs of
        people outside the workspace (a visitor's run of a public template): they never
        agreed to show their inputs to a team. An anonymous visitor: their jobs of this
        browser session. Memberships are read on every call (a query, made by the call
        itself: an async caller calls it through ``sync_to_async``), so whoever leaves a
        workspace stops seeing its jobs on their next request.
        """
        if user is not None and user.is_authenticated:
            # Asked first, in a query of its own: most people share no workspace's jobs, and
            # their lists then read the owner's index in order (0.05 ms at 400,000 jobs)
            # instead of sorting every visible job under the union below (1-9 ms).
            shared = list(
                Workspace.objects.filter(members_see_all_jobs=True, memberships__user=user).values_list(
                    "pk", flat=True
                )
            )
            if not shared:
                return self.filter(owner=user)
            run_by_a_member = Exists(
                Membership.objects.filter(
                    user=OuterRef("owner"), workspace=OuterRef("template_version__template__workspace")
                )
            )
            own = Job.objects.filter(owner=user).values("pk")
            theirs = (
                Job.objects.filter(template_version__template__workspace__in=shared)
                .filter(run_by_a_member)
                .values("pk")
            )
            # A UNION of the two, not an OR: PostgreSQL plans "owner = me OR (a condition
            # across the template's join)" as a scan of every job in the table (~250 ms at
            # 400,000 jobs), the UNION as the owner's index plus the shared templates' jobs.
            return self.filter(pk__in=own.union(theirs, all=True))
        if not session_key:
            return self.none()
        return self.filter(owner__isnull=True, session_key=session_key)

    def search(self, text: str) -> JobQuerySet:
        """Jobs whose inputs or output contain the text (any case). A scan of the owner's
        jobs (the owner's index narrows it first): enough at one person's scale."""
        text = text.strip()
        if not text:
            return self
        return self.filter(json_text_contains("inputs", text) | Q(output__icontains=text))

    def adopt_anonymous(self, session_key: str | None, user: Any) -> int:
        """Give jobs run before signing in to the account that just signed in."""
        if not session_key:
            return 0
        with transaction.atomic():
            rows = self.filter(owner__isnull=True, session_key=session_key)
            adopted = list(rows.select_for_update().values_list("pk", flat=True))
            # Finished ones move from the visitors' usage to the account's.
            UsageRollup.objects.count_jobs(adopted, sign=-1)
            updated = self.filter(pk__in=adopted).update(owner=user, session_key="")
            UsageRollup.objects.count_jobs(adopted, recount=True)
        return updated

    def reusable_result(self, digest: str, ttl_seconds: int) -> Job | None:
        """A recent successful run with the same determining inputs, if any: its id and
        output, what an answer from it copies (not the other columns, on every cached answer)."""
        if ttl_seconds <= 0:
            return None
        since = timezone.now() - timedelta(seconds=ttl_seconds)
        return (
            self.filter(input_hash=digest, status=JobStatus.SUCCEEDED, finished_at__gte=since)
            .filter(cached_from__isnull=True, leader__isnull=True)
            .only("id", "output")
            .order_by("-finished_at")
            .first()
        )


class Job(models.Model):
    """One generation: a template version run on some inputs by a provider.

    A job is answered in one of three ways: its own provider call (a *leader*,
    holding ``active_key`` while queued or running, so at most one call per
    distinct input runs at a time), by following a leader already running the
    same inputs (``leader``), or from a recent identical result (``cached_from``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template_version = models.ForeignKey(
        "templates_app.TemplateVersion",
        verbose_name=_("template version"),
        on_delete=models.PROTECT,
        related_name="jobs",
    )
    # The indexes are in Meta, each a query's (see there): no column indexed on its own.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="jobs",
        db_index=False,
    )
    session_key = models.CharField(_("browser session"), max_length=64, blank=True)
    inputs = models.JSONField(_("inputs"), default=dict)
    input_hash = models.CharField(_("input hash"), max_length=64)
    active_key = models.CharField(
        _("running key"),
        max_length=64,
        null=True,
        blank=True,
        help_text=_("The input hash while this job's own provider call is queued or running."),
    )
    leader = models.ForeignKey(
        "self",
        verbose_name=_("answered together with"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="followers",
        db_index=False,
    )
    cached_from = models.ForeignKey(
        "self",
        verbose_name=_("answered from the result of"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    system_prompt = models.TextField(_("rendered system prompt"), blank=True)
    prompt = models.TextField(_("rendered prompt"))
    provider = models.CharField(_("provider"), max_length=40)
    model = models.CharField(_("model"), max_length=100)
    # A run's own temperature (an override the caller chose); empty: the version's.
    temperature = models.DecimalField(_("temperature"), max_digits=3, decimal_places=2, null=True, blank=True)
    # The Celery queue the job's messages go to (its first, its retries, the sweep's);
    # empty: the task's route. The caller names it (a batch's jobs have a queue of their
    # own, docs/architecture.md "Batches"): jobs knows a queue name, never who uses it.
    queue = models.CharField(_("worker queue"), max_length=40, blank=True)
    # A step of a workflow run (jobs/workflows): the run's parent job. A part is the run's
    # work, not a run of its own: job lists, usage and webhooks count the parent only.
    part_of = models.ForeignKey(
        "self",
        verbose_name=_("step of the run"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="parts",
        db_index=False,
    )
    # A run's own output limit (a workflow step's); empty: the version's.
    max_tokens = models.PositiveIntegerField(_("max tokens"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    output = models.TextField(_("output"), blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    attempt_log = models.JSONField(_("attempt log"), default=list, blank=True)
    task_id = models.CharField(_("worker task"), max_length=64, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, null=True, blank=True)
    draft_run = models.BooleanField(
        _("draft test run"),
        default=False,
        help_text=_("Run by an editor of the template to try a version, from the editor or its preview."),
    )
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
    first_token_at = models.DateTimeField(_("first token"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    lease_expires_at = models.DateTimeField(
        _("worker lease until"),
        null=True,
        blank=True,
        help_text=_("Renewed by the worker running the job; past it, the worker is presumed dead."),
    )

    objects = JobQuerySet.as_manager()

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ("-created_at",)
        # Every INSERT and every UPDATE of an indexed column (a state change) writes an
        # entry in each index whose condition the row meets, so each index here serves a
        # query the app runs, and holds only the rows that query can find. A finished job of a
        # signed-in owner (most of them) is in four: the primary key, job_owner_recent,
        # job_finished_original and the version's foreign key.
        # Conditions are on literals or NULLs, never on a value a query passes, so that a
        # prepared statement's generic plan can use them (docs/architecture.md, "Database").
        indexes = [
            # The job lists (site and API) of an owner; also the owner's deletion (CASCADE).
            models.Index(fields=["owner", "-created_at"], name="job_owner_recent"),
            # An anonymous visitor's jobs, and their adoption when the visitor signs in.
            models.Index(
                fields=["session_key", "-created_at"],
                condition=models.Q(owner__isnull=True),
                name="job_visitor_recent",
            ),
            # The sweep: active jobs only.
            models.Index(
                fields=["status", "created_at"],
                condition=models.Q(status__in=["queued", "running"]),
                name="job_active_age",
            ),
            # reusable_result's lookup: only the originals, so many answers served from the
            # cache for one input (each a succeeded job of the same hash) are not walked past.
            # Not only the succeeded ones: the lookup passes its status as a parameter, which
            # a condition can't be proved against; a failed original is rare and filtered.
            models.Index(
                fields=["input_hash", "-finished_at"],
                condition=models.Q(cached_from__isnull=True, leader__isnull=True, finished_at__isnull=False),
                name="job_finished_original",
            ),
            # A leader's followers (its claim and finish), and SET NULL when a leader is deleted.
            models.Index(fields=["leader"], condition=models.Q(leader__isnull=False), name="job_followers"),
            # A workflow run's steps (its advance, cancel and the sweep), and CASCADE on its deletion.
            models.Index(fields=["part_of"], condition=models.Q(part_of__isnull=False), name="job_parts"),
            # SET NULL on the answers from the cache of a job being deleted.
            models.Index(
                fields=["cached_from"],
                condition=models.Q(cached_from__isnull=False),
                name="job_cached_answers",
            ),
        ]
        constraints = [
            # A retried API call with the same Idempotency-Key gets the same job.
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="unique_idempotency_key",
            ),
            # At most one provider call per distinct input at a time (jobs/services.py).
            models.UniqueConstraint(
                fields=["active_key"], condition=models.Q(active_key__isnull=False), name="unique_active_key"
            ),
        ]

    def __str__(self) -> str:
        return str(self.id)

    def get_absolute_url(self) -> str:
        return reverse("jobs:detail", args=[self.id])

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def is_run_by(self, user: Any, session_key: str | None) -> bool:
        """Is this the person (or, for a visitor's job, the browser session) who ran the job,
        the only one who may act on it (cancel, retry)? Anyone else who sees it
        (``JobQuerySet.visible_to``: a fellow member of its workspace) only reads it."""
        if user is not None and user.is_authenticated:
            return self.owner_id == user.pk
        return self.owner_id is None and bool(session_key) and self.session_key == session_key

    @property
    def run_max_tokens(self) -> int:
        """The output limit the provider is asked for: the run's own, else its version's."""
        return self.max_tokens or self.template_version.max_tokens

    @property
    def is_workflow_run(self) -> bool:
        """A workflow's parent job: its version has steps, and it is no step's own job."""
        return self.part_of_id is None and self.template_version.is_workflow

    @property
    def run_temperature(self) -> Any:
        """The temperature the provider is asked for: the run's own, else its version's."""
        return self.temperature if self.temperature is not None else self.template_version.temperature

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    @property
    def attempt_shown(self) -> int:
        """The attempt a person is told about: the one running, or the one a retry waits
        to make. Attempts the provider deferred (a rate limit) don't count, as in
        ``failed_attempts``."""
        if self.status == JobStatus.QUEUED and self.attempts:
            return min(self.failed_attempts + 1, settings.JOB_MAX_ATTEMPTS)
        return max(self.failed_attempts, 1)

    @property
    def status_label(self) -> str:
        """The status for people. A retry reads "Retrying (attempt 2 of 3)" both while it
        waits in the queue and while it runs, so the page never flips back to "Queued"."""
        if self.status in ACTIVE_STATUSES and self.attempt_shown > 1:
            return _("Retrying (attempt %(attempt)d of %(attempts)d)") % {
                "attempt": self.attempt_shown,
                "attempts": settings.JOB_MAX_ATTEMPTS,
            }
        return str(self.get_status_display())

    @property
    def final_announcement(self) -> str:
        """What the job page announces once the job has ended ("" before)."""
        return str(FINAL_ANNOUNCEMENTS.get(self.status, ""))

    @property
    def error_text(self) -> str:
        """The error, translated, for people."""
        return describe_error(self.error_code, self.error_message)

    @property
    def time_to_first_token(self) -> float | None:
        if self.started_at and self.first_token_at:
            return (self.first_token_at - self.started_at).total_seconds()
        return None

    @property
    def tokens_per_second(self) -> float | None:
        if self.first_token_at and self.finished_at and self.output_tokens:
            seconds = (self.finished_at - self.first_token_at).total_seconds()
            return self.output_tokens / seconds if seconds > 0 else None
        return None

    # State changes are conditional UPDATEs: whoever changes the row first
    # wins, and the loser learns it from the row count. A worker's writes are
    # also fenced by its attempt number, so a worker that lost its claim (it
    # was presumed dead and the job re-run) can never overwrite the new run.
    #
    # ``lease_expires_at`` is a deadline in both active states. Running: the
    # worker renews it, and past it the worker is presumed dead. Queued: the
    # time by which a worker should have claimed the job (when its message is
    # due, plus JOB_QUEUE_STALE_AFTER); past it the message is presumed lost
    # (a broker restart, a task acknowledged without running) and the sweep
    # sends another. A duplicate is harmless: only one message can claim.

    @staticmethod
    def queue_deadline(delay: float = 0.0) -> Any:
        """Until when a job queued now (its message due in ``delay`` s) may wait unclaimed."""
        return timezone.now() + timedelta(seconds=delay + settings.JOB_QUEUE_STALE_AFTER)

    def resend_if_unclaimed(self) -> bool:
        """The sweep's fence: True for exactly one caller per lost message (two sweeps may race)."""
        updated = Job.objects.filter(
            pk=self.pk, status=JobStatus.QUEUED, lease_expires_at=self.lease_expires_at
        ).update(lease_expires_at=self.queue_deadline())
        return bool(updated)

    def claim(self, task_id: str) -> int | None:
        """Take the job for running; the attempt number, or None if it isn't ours to run.

        A queued job is claimed by anyone. A running job is taken over only by a
        redelivery of the very message that started it, and only once its lease
        ran out: a redelivery alone doesn't mean the worker died (a worker that
        lost its broker connection keeps running its tasks while the broker
        gives their unacknowledged messages to another). ``lease_left`` says how
        long such a message should wait before it asks again.
        """
        now = timezone.now()
        claimable = Q(status=JobStatus.QUEUED) | Q(
            status=JobStatus.RUNNING, task_id=task_id, lease_expires_at__lt=now
        )
        with transaction.atomic():
            updated = (
                Job.objects.filter(claimable, pk=self.pk)
                .filter(leader__isnull=True)
                .update(
                    status=JobStatus.RUNNING,
                    started_at=now,
                    first_token_at=None,
                    attempts=F("attempts") + 1,
                    task_id=task_id,
                    output="",
                    lease_expires_at=now + timedelta(seconds=settings.JOB_LEASE_SECONDS),
                )
            )
            if not updated:
                return None
            # The row as claimed, with its version (a job's never changes), which the run needs.
            self.refresh_from_db(from_queryset=Job.objects.select_related("template_version"))
            self.followers.filter(status=JobStatus.QUEUED).update(status=JobStatus.RUNNING, started_at=now)
        return self.attempts

    def lease_left(self, task_id: str) -> float | None:
        """Seconds until the lease of the run this task started runs out; None if it isn't running it."""
        lease = (
            Job.objects.filter(pk=self.pk, status=JobStatus.RUNNING, task_id=task_id)
            .values_list("lease_expires_at", flat=True)
            .first()
        )
        if lease is None:
            return None
        return max(0.0, (lease - timezone.now()).total_seconds())

    def _unclaimed(self) -> models.QuerySet[Job]:
        """This row while no worker claimed it since it was read (the claim counts an attempt)."""
        return Job.objects.filter(pk=self.pk, status=JobStatus.QUEUED, attempts=self.attempts)

    def defer_unclaimed(self, seconds: float) -> bool:
        """Move the queue deadline past a wait, so the sweep leaves the waiting job alone.

        Fenced by the deadline read too, so of two messages deferring the job at
        once (a duplicate racing its own) exactly one goes on to send it back.
        """
        updated = self._unclaimed().filter(lease_expires_at=self.lease_expires_at)
        return bool(updated.update(lease_expires_at=self.queue_deadline(seconds)))

    def _owned(self, attempt: int) -> models.QuerySet[Job]:
        return Job.objects.filter(pk=self.pk, status=JobStatus.RUNNING, attempts=attempt)

    def renew_lease(self, attempt: int) -> bool:
        """The worker running this attempt is alive; False once the job is no longer its."""
        until = timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS)
        return bool(self._owned(attempt).update(lease_expires_at=until))

    def save_progress(self, attempt: int, output: str, *, first_token: bool = False) -> bool:
        """Persist partial output; False if the job is no longer this attempt's (cancelled)."""
        changes: dict[str, Any] = {"output": output}
        if first_token:
            changes["first_token_at"] = timezone.now()
        return bool(self._owned(attempt).update(**changes))

    def _finish(
        self, attempt: int | None, status: str, *, rows: models.QuerySet[Job] | None = None, **changes: Any
    ) -> bool:
        """End the job (and its followers) in one transaction."""
        now = timezone.now()
        if rows is None:
            rows = (
                self._owned(attempt)
                if attempt is not None
                else Job.objects.filter(pk=self.pk, status__in=ACTIVE_STATUSES)
            )
        finished = {"status": status, "active_key": None, "finished_at": now, **changes}
        with transaction.atomic():
            if not rows.update(**finished):
                return False
            # Its budget reservation becomes what it spent, once (followers made no call).
            budgets.settle(
                self.pk,
                provider=self.provider,
                model=self.model,
                input_tokens=changes.get("input_tokens"),
                output_tokens=changes.get("output_tokens"),
                cost=changes.get("cost"),
            )
            follower_changes = {
                key: value
                for key, value in changes.items()
                if key in ("output", "error_code", "error_message")
            }
            # Locked first, so the rows counted below are exactly the rows finished (a
            # follower cancelled meanwhile is neither).
            followers = list(
                self.followers.filter(status__in=ACTIVE_STATUSES)
                .select_for_update()
                .values_list("pk", flat=True)
            )
            Job.objects.filter(pk__in=followers, status__in=ACTIVE_STATUSES).update(
                status=status, finished_at=now, input_tokens=0, output_tokens=0, cost=Decimal("0"),
                **follower_changes,
            )  # fmt: skip
            UsageRollup.objects.count_jobs([self.pk, *followers])
            job_finished.send(sender=Job, job_ids=[self.pk, *followers], status=status)
        # The values just written, set here rather than read back (a round trip the
        # worker made on every job); columns the attempt wrote as it ran (progress,
        # lease renewals) are as this instance last saw them.
        for name, value in finished.items():
            setattr(self, name, value)
        return True

    def mark_succeeded(
        self,
        attempt: int,
        *,
        output: str,
        input_tokens: int | None,
        output_tokens: int | None,
        cost: Decimal | None,
    ) -> bool:
        return self._finish(
            attempt,
            JobStatus.SUCCEEDED,
            output=output,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
            error_code="",
            error_message="",
        )

    def mark_failed(
        self,
        attempt: int | None,
        *,
        code: str,
        message: str,
        output: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> bool:
        changes: dict[str, Any] = {"error_code": code, "error_message": message}
        if output is not None:
            changes["output"] = output
        if input_tokens is not None or output_tokens is not None:
            changes.update(input_tokens=input_tokens, output_tokens=output_tokens)
        return self._finish(attempt, JobStatus.FAILED, **changes)

    def finish_workflow(
        self,
        attempt: int,
        status: str,
        *,
        output: str,
        error_code: str,
        error_message: str,
        input_tokens: int | None,
        output_tokens: int | None,
        cost: Decimal | None,
    ) -> bool:
        """End a workflow run (jobs/workflows) with its result and the sums of its steps."""
        return self._finish(
            attempt,
            status,
            output=output,
            error_code=error_code,
            error_message=error_message,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=cost,
        )

    def mark_failed_unclaimed(self, *, code: str, message: str) -> bool:
        """Fail the job only if it is still queued as read: never a run another message claimed."""
        rows = self._unclaimed()
        return self._finish(None, JobStatus.FAILED, rows=rows, error_code=code, error_message=message)

    @property
    def failed_attempts(self) -> int:
        """Attempts that count against JOB_MAX_ATTEMPTS: not those the provider deferred (a 429)."""
        return self.attempts - sum(1 for entry in self.attempt_log if entry.get("deferred"))

    def requeue_after_failure(
        self, attempt: int, *, code: str, message: str, retry_in: float, deferred: bool = False
    ) -> bool:
        """Put the job back in the queue after a failed attempt that may succeed if retried.

        A *deferred* attempt is one the provider asked us to make later (a rate
        limit): it is logged but not counted as a failed attempt. ``attempts``
        itself still grows, because it fences each attempt's writes.
        """
        entry = {
            "attempt": attempt,
            "code": code,
            "message": message,
            "at": timezone.now().isoformat(),
            "retry_in": round(retry_in, 2),
        }
        if deferred:
            entry["deferred"] = True
        updated = self._owned(attempt).update(
            status=JobStatus.QUEUED,
            attempt_log=self.attempt_log + [entry],
            output="",
            lease_expires_at=self.queue_deadline(retry_in),
        )
        if updated:
            self.refresh_from_db()
        return bool(updated)

    def cancel(self, *, send: Callable[[Job], None] | None = None) -> bool:
        """Cancel a queued or running job; a leader hands its followers a new leader.

        The new leader is queued again; ``send`` (the caller's way to the workers: the
        queue is not the model's business) gets it once the cancel is committed. Without
        it the sweep sends the new leader when its queue deadline passes.
        """
        with transaction.atomic():
            if not Job.objects.filter(pk=self.pk, status__in=ACTIVE_STATUSES).update(
                status=JobStatus.CANCELLED, finished_at=timezone.now(), active_key=None, leader=None
            ):
                return False
            UsageRollup.objects.count_jobs([self.pk])
            job_finished.send(sender=Job, job_ids=[self.pk], status=JobStatus.CANCELLED)
            successor = self._hand_over_followers()
            if successor is not None:
                budgets.hand_over(self.pk, successor.pk)  # the same call, made by the successor
            else:
                # Released whole: what a running call spent until the cancel arrives later
                # (record_partial_usage), added to the month's spending then.
                budgets.settle(
                    self.pk, provider=self.provider, model=self.model, input_tokens=None, output_tokens=None,
                    cost=Decimal("0"),
                )  # fmt: skip
            if successor is not None and send is not None:
                transaction.on_commit(lambda: send(successor))
        self.refresh_from_db()
        return True

    def _hand_over_followers(self) -> Job | None:
        followers = list(self.followers.filter(status__in=ACTIVE_STATUSES).order_by("created_at"))
        if not followers:
            return None
        successor, others = followers[0], followers[1:]
        Job.objects.filter(pk=successor.pk).update(
            leader=None,
            active_key=self.input_hash,
            status=JobStatus.QUEUED,
            output="",
            lease_expires_at=self.queue_deadline(),
        )
        Job.objects.filter(pk__in=[job.pk for job in others]).update(leader=successor)
        return successor

    def record_partial_usage(
        self,
        attempt: int,
        *,
        output: str,
        input_tokens: int | None,
        output_tokens: int | None,
        cost: Decimal | None,
    ) -> bool:
        """After a cancel of this attempt: keep the text and tokens spent so far.

        False if the job was not cancelled during this attempt (it was taken
        over by a new attempt, whose row this must not touch).
        """
        with transaction.atomic():
            rows = Job.objects.filter(pk=self.pk, status=JobStatus.CANCELLED, attempts=attempt)
            spent = rows.select_for_update().values_list("input_tokens", "output_tokens", "cost").first()
            if spent is None:
                return False
            # The job was counted when it was cancelled: recount it with what it spent.
            before = UsageRollup.objects.count_jobs([self.pk], sign=-1)
            rows.update(output=output, input_tokens=input_tokens, output_tokens=output_tokens, cost=cost)
            after = UsageRollup.objects.count_jobs([self.pk], recount=True)
            budgets.recount(
                self.pk,
                provider=self.provider,
                model=self.model,
                before=tuple(spent),
                after=(input_tokens, output_tokens, cost),
            )
            job_usage_changed.send(
                sender=Job, job_id=self.pk, before=tuple(spent), after=(input_tokens, output_tokens, cost)
            )
            transaction.on_commit(functools.partial(telemetry.recounted, before, after))
        return True


# The workflow engine's step rows are jobs' models (jobs/workflows/models.py): imported
# here so the app registers them.
from .workflows.models import JobStep, StepStatus  # noqa: E402, F401
