from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import kombu.exceptions
import redis
from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from promptlab import logs
from promptlab.cache import CacheUnavailable
from promptlab.database import drop_broken_connection
from promptlab.heartbeat import record_worker_heartbeat
from providers import GenerationRequest, ProviderError, StreamEvent, TextDelta, Usage, get_provider
from providers.circuit import Admission, ProviderBreaker, breaker_for
from providers.models import price_of

from . import telemetry
from .models import ACTIVE_STATUSES, Job, JobStatus, JobStep
from .streaming import JobPublisher
from .workflows.tasks import advance_workflow  # noqa: F401  (registered with the app's tasks)

logger = logging.getLogger(__name__)


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter (about 1 s, 3 s, 10 s), never sooner than Retry-After."""
    delays = settings.JOB_RETRY_DELAYS
    base = delays[min(attempt - 1, len(delays) - 1)]
    delay = base * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


class TimeLimitedByTheWorker(Task):
    """A task whose time limits are the worker's settings, not the sender's.

    Celery copies the sending process's ``task_time_limit`` and
    ``task_soft_time_limit`` into every message, and a worker obeys the
    message's limits over its own: the web process's JOB_SOFT_TIME_LIMIT would
    decide. Explicit ``None`` limits keep them out of the message.
    """

    def apply_async(self, args=None, kwargs=None, **options):  # type: ignore[no-untyped-def]
        options.setdefault("time_limit", None)
        options.setdefault("soft_time_limit", None)
        return super().apply_async(args, kwargs, **options)


def send_run(job: Job, countdown: float | None = None) -> None:
    """Send the job's message to the workers, on the job's own queue when it names one
    (a batch's jobs stay on theirs through retries, waits and the sweep's resends)."""
    if job.queue:
        run_job.apply_async(args=[str(job.id)], countdown=countdown, queue=job.queue)
    elif countdown is None:
        run_job.delay(str(job.id))
    else:
        run_job.apply_async(args=[str(job.id)], countdown=countdown)


# The database or the broker failing under us: nothing to do with the job, and
# likely gone in a moment.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError)
# Before its claim a task retries itself on them (1 s, 2 s, 4 s… up to 30 s
# apart, about ten minutes in all); past that the job is still queued in the
# database, and the sweep sends it again once the database answers.
CLAIM_RETRY_MAX = 25
CLAIM_RETRY_MAX_DELAY = 30.0


def claim_retry_delay(retries: int) -> float:
    return min(2.0**retries, CLAIM_RETRY_MAX_DELAY) * random.uniform(0.8, 1.2)


@shared_task(bind=True, base=TimeLimitedByTheWorker, acks_late=True, ignore_result=True)
def run_job(self, job_id: str) -> None:  # type: ignore[no-untyped-def]
    """Run one job on its provider, streaming chunks as they come.

    Failures a retry may fix put the job back in the queue with a delay, up to
    JOB_MAX_ATTEMPTS attempts; other failures end it at once. While the
    provider's breaker is open, or the provider asked to wait (429 with
    Retry-After), the job stays queued and comes back later, without spending
    an attempt, for up to JOB_PROVIDER_WAIT_LIMIT seconds after it was submitted.
    """
    logs.job_id.set(job_id)  # on every record of this task (promptlab.celery clears it after)
    try:
        # With its version: whether it is a workflow run (the claim reads the row again).
        job = Job.objects.select_related("template_version").filter(pk=UUID(job_id)).first()
        if job is None:
            return  # deleted meanwhile
        if job.is_workflow_run:
            _start_workflow(self, job)
            return
        breaker = breaker_for(job.provider)
        admission = breaker.admit(job.model) if job.status == JobStatus.QUEUED else Admission()
        if admission.wait:
            _defer(job, breaker, admission)
            return
        task_id = self.request.id or ""
        attempt = job.claim(task_id)
        lease_left = job.lease_left(task_id) if attempt is None else None
    except INFRASTRUCTURE_ERRORS as exc:
        # With late acknowledgement a task that raises is still acknowledged: its
        # message would be gone with the job never claimed. Retrying publishes the
        # same task (same id, so a claim that did commit is taken over) anew.
        logger.warning("job %s: no database before its claim (%s); retrying", job_id, exc)
        drop_broken_connection()
        raise self.retry(
            exc=exc, countdown=claim_retry_delay(self.request.retries), max_retries=CLAIM_RETRY_MAX
        ) from None
    if attempt is None:
        if admission.probe:
            breaker.release_probe()
        if lease_left is not None:
            # Our own message back while the run it started still holds its lease:
            # its worker may be alive (the broker redelivers the messages of a
            # worker that only lost its connection). Ask again once the lease
            # would have run out, so a worker that did die is still replaced.
            logger.info("job %s: running under a live lease; asking again in %.0f s", job_id, lease_left + 1)
            # No limit of its own: the run ends within its time limit, and its lease with it.
            raise self.retry(countdown=lease_left + 1, max_retries=self.request.retries + 1)
        return  # cancelled, finished, following another job, or taken by another worker
    telemetry.describe_span(job, **{"promptlab.cache": "miss", "promptlab.job.attempt": attempt})
    with _LeaseKeeper(job, attempt):
        _run_attempt(job, attempt, breaker, admission)


def _start_workflow(task: Task, job: Job) -> None:
    """A workflow run makes no provider call of its own (no breaker to ask): claimed, it
    is handed to the orchestrator, which starts its steps as child jobs and returns."""
    from . import workflows

    task_id = task.request.id or ""
    attempt = job.claim(task_id)
    if attempt is None:
        lease_left = job.lease_left(task_id)
        if lease_left is not None:
            # As for a plain job: our own message back while the run still holds its lease.
            raise task.retry(countdown=lease_left + 1, max_retries=task.request.retries + 1)
        return
    try:
        workflows.start(job, attempt)
    except INFRASTRUCTURE_ERRORS:
        raise  # rolled back whole: run_job tries again (its claim takes the run over)
    except Exception:
        # A bug, not bad luck: the run fails now rather than on every attempt the sweep makes.
        logger.exception("run %s could not be started", job.pk)
        from .workflows.orchestration import fail_unexpectedly

        fail_unexpectedly(job.pk)


def _may_wait(job: Job, seconds: float) -> bool:
    """Whether the job may wait ``seconds`` more for its provider (JOB_PROVIDER_WAIT_LIMIT)."""
    waited = (timezone.now() - job.created_at).total_seconds()
    return waited + seconds <= settings.JOB_PROVIDER_WAIT_LIMIT


def _defer(job: Job, breaker: ProviderBreaker, admission: Admission) -> None:
    """Put the unclaimed job's message back for later, or fail the job if it waited too long."""
    if not _may_wait(job, admission.wait):
        code = "rate_limited" if admission.reason == "rate_limited" else "provider_unavailable"
        # Fenced on the queued row as read: another message (the probe, a sweep's
        # duplicate) may have claimed the job since, and its run is not ours to end.
        if job.mark_failed_unclaimed(code=code, message=""):
            JobPublisher(job.id, job.attempts).status(JobStatus.FAILED, terminal=True)
        return
    if not breaker.first_to_wait(job.pk, admission.wait):
        return  # a duplicate message (the sweep's, say): the job's own comes back already
    # The queue deadline goes past the wait, or the sweep would take the waiting
    # job's message for lost and send another every JOB_QUEUE_STALE_AFTER seconds.
    if not job.defer_unclaimed(admission.wait):
        return  # claimed meanwhile, or a duplicate racing this one deferred it first
    logger.info("job %s waits %.1f s for %s (%s)", job.id, admission.wait, job.provider, admission.reason)
    # A new message rather than task.retry(): waiting is not a retry, and must
    # not run into the task's max_retries.
    try:
        send_run(job, countdown=admission.wait)
    except kombu.exceptions.OperationalError as exc:
        # Not sent: the job stays queued, and the sweep sends it once its deadline passes.
        logger.warning("job %s: could not send it back (%s); the sweep will", job.id, exc)


def _run_attempt(job: Job, attempt: int, breaker: ProviderBreaker, admission: Admission) -> None:
    publisher = JobPublisher.for_job(job, attempt)
    publisher.reset(status=JobStatus.RUNNING)

    progress = _Progress()
    parts = progress.parts
    usage: Usage | None = None
    try:
        provider = get_provider(job.provider)
        request = GenerationRequest(
            system_prompt=job.system_prompt,
            prompt=job.prompt,
            model=job.model,
            temperature=float(job.run_temperature),
            max_tokens=job.run_max_tokens,
        )
        with closing(breaker.watch(provider.stream(request), admission, job.model)) as events:
            usage = _stream_into(job, attempt, events, progress, publisher)
    except _Cancelled:
        input_tokens, output_tokens = progress.tokens_so_far()
        if job.record_partial_usage(
            attempt,
            output="".join(parts),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=price_of(job.provider, job.model, input_tokens, output_tokens),
        ):
            publisher.status(JobStatus.CANCELLED, terminal=True)
        return
    except ProviderError as exc:
        _handle_provider_error(job, attempt, exc, parts, publisher)
        return
    except SoftTimeLimitExceeded:
        job.mark_failed(attempt, code="time_limit", message="", output="".join(parts))
        publisher.status(JobStatus.FAILED, terminal=True)
        return
    except INFRASTRUCTURE_ERRORS as exc:
        _retry_after_infrastructure_error(job, attempt, exc, publisher)
        return
    except Exception:
        logger.exception("job %s failed unexpectedly", job.id)
        job.mark_failed(attempt, code="internal_error", message="", output="".join(parts))
        publisher.status(JobStatus.FAILED, terminal=True)
        return
    input_tokens = usage.input_tokens if usage else None
    output_tokens = usage.output_tokens if usage else None

    def record_success() -> bool:
        return job.mark_succeeded(
            attempt,
            output="".join(parts),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost=price_of(job.provider, job.model, input_tokens, output_tokens),
        )

    if _write_with_retries(job, record_success):
        publisher.status(JobStatus.SUCCEEDED, terminal=True)
    telemetry.describe_span(
        job, **{"gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens}
    )


# Pauses between tries of an attempt's last write when the database fails: a
# blip must not throw away a generation the provider has already been paid for.
FINAL_WRITE_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)


def _write_with_retries(job: Job, write: Callable[[], bool]) -> bool:
    """Run a fenced write (idempotent for its attempt) until the database takes it.

    If it never does, the lease runs out and the sweep runs the job again: the
    only way left not to lose it.
    """
    for pause in (*FINAL_WRITE_RETRY_DELAYS, None):
        try:
            return write()
        except INFRASTRUCTURE_ERRORS as exc:
            drop_broken_connection()
            if pause is None:
                logger.warning("job %s: could not record its result (%s); left to the sweep", job.id, exc)
                return False
            logger.warning("job %s: could not record its result (%s); trying again", job.id, exc)
            time.sleep(pause)
    return False


class _Cancelled(Exception):
    """The attempt no longer owns the job: cancelled, or taken over by a new attempt."""


class _LeaseKeeper:
    """Renews the job's lease from a thread while the attempt runs.

    A thread, not the event loop, because a provider may be silent for long
    (a slow first token) and the lease must still be renewed. When the worker
    process dies the renewals stop, the lease runs out, and the beat sweep
    runs the job again within seconds (on every broker, the filesystem one
    included, which does not redeliver a dead worker's message).
    """

    def __init__(self, job: Job, attempt: int) -> None:
        self.job, self.attempt = job, attempt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{job.pk}", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _renew(self) -> None:
        interval = settings.JOB_LEASE_SECONDS / 3
        try:
            while not self._stop.wait(interval):
                try:
                    if not self.job.renew_lease(self.attempt):
                        return  # finished, cancelled or taken over
                except Exception:
                    logger.exception("could not renew the lease of job %s", self.job.pk)
        finally:
            connection.close()  # this thread's own database connection


@dataclass
class _Progress:
    """What an attempt has produced and spent so far."""

    parts: list[str] = field(default_factory=list)
    usage: Usage | None = None  # the latest the provider reported (maybe partial)
    counted_tokens: int | None = None  # output tokens of deltas that said how many

    def add(self, delta: TextDelta) -> None:
        self.parts.append(delta.text)
        if delta.tokens is not None:
            self.counted_tokens = (self.counted_tokens or 0) + delta.tokens

    def output_tokens_so_far(self) -> int:
        """The output tokens as far as the provider told us, and at least one per text
        delta received (a partial usage report may lag behind): progress to report."""
        return max(self.tokens_so_far()[1] or 0, len(self.parts))

    def tokens_so_far(self) -> tuple[int | None, int | None]:
        """Input and output tokens spent, as far as the provider told us (None: unknown)."""
        reported = self.usage.output_tokens if self.usage else None
        known = [n for n in (reported, self.counted_tokens) if n is not None]
        return (self.usage.input_tokens if self.usage else None), (max(known) if known else None)


def _stream_into(
    job: Job, attempt: int, events: Iterator[StreamEvent], progress: _Progress, publisher: JobPublisher
) -> Usage | None:
    usage: Usage | None = None
    parts = progress.parts
    offset = 0
    last_flush = time.monotonic()
    for event in events:
        if isinstance(event, Usage):
            progress.usage = event
            if not event.partial:
                usage = event
            continue
        assert isinstance(event, TextDelta)
        if "\x00" in event.text:
            # PostgreSQL text can't hold NUL: saving the output would fail the job.
            event = TextDelta(event.text.replace("\x00", "\ufffd"), event.tokens)
        progress.add(event)
        publisher.chunk(offset, event.text, progress.output_tokens_so_far())
        offset += len(event.text)
        first = len(parts) == 1
        if first or time.monotonic() - last_flush >= settings.JOB_OUTPUT_FLUSH_INTERVAL:
            last_flush = time.monotonic()
            if not job.save_progress(attempt, "".join(parts), first_token=first):
                raise _Cancelled
    publisher.flush()  # the chunks held back go out now, not after the final bookkeeping
    return usage


def _handle_provider_error(
    job: Job, attempt: int, exc: ProviderError, parts: list[str], publisher: JobPublisher
) -> None:
    logger.warning("job %s attempt %s failed: %s (%s)", job.id, attempt, exc, exc.code)
    delay = retry_delay(attempt, exc.retry_after)
    deferred = exc.code == "rate_limited"
    if deferred:
        # A rate limit asks us to come back later: not a failed attempt, but not forever.
        may_retry = _may_wait(job, delay)
    else:
        may_retry = exc.retryable and job.failed_attempts < settings.JOB_MAX_ATTEMPTS
    if may_retry:
        _requeue(job, attempt, publisher, code=exc.code, message=str(exc), delay=delay, deferred=deferred)
        return
    try:
        if job.mark_failed(attempt, code=exc.code, message=str(exc)[:2000], output="".join(parts)):
            publisher.status(JobStatus.FAILED, terminal=True)
    except INFRASTRUCTURE_ERRORS as error:
        # Not failed: the lease runs out, and the sweep takes the job from there.
        drop_broken_connection()
        logger.warning("job %s: could not fail it now (%s); the sweep will", job.id, error)


def _requeue(
    job: Job,
    attempt: int,
    publisher: JobPublisher,
    *,
    code: str,
    message: str,
    delay: float,
    deferred: bool = False,
) -> None:
    """Put the job back in the queue and send its message for ``delay`` seconds from now."""
    try:
        if job.requeue_after_failure(attempt, code=code, message=message, retry_in=delay, deferred=deferred):
            publisher.status(JobStatus.QUEUED)
            send_run(job, countdown=delay)
    except (*INFRASTRUCTURE_ERRORS, kombu.exceptions.OperationalError) as error:
        # Not requeued, or requeued but not sent: the lease or the queue deadline
        # runs out, and the sweep takes the job from there.
        drop_broken_connection()
        logger.warning("job %s: could not requeue it now (%s); the sweep will", job.id, error)


def _retry_after_infrastructure_error(
    job: Job, attempt: int, exc: Exception, publisher: JobPublisher
) -> None:
    """The database (publishing to Redis is best effort, so rarely Redis) failed mid-run.

    The job goes back to the queue like a retryable provider failure. If even
    that can't be written, the lease runs out and the sweep runs it again.
    """
    logger.warning("job %s attempt %s: infrastructure error: %s", job.id, attempt, exc)
    drop_broken_connection()
    if job.failed_attempts >= settings.JOB_MAX_ATTEMPTS:
        with contextlib.suppress(*INFRASTRUCTURE_ERRORS):
            if job.mark_failed(attempt, code="internal_error", message=""):
                publisher.status(JobStatus.FAILED, terminal=True)
        return
    _requeue(
        job,
        attempt,
        publisher,
        code="infrastructure_error",
        message=str(exc)[:500],
        delay=retry_delay(attempt, None),
    )


@shared_task(ignore_result=True)
def sweep_stuck_jobs() -> int:
    """Find jobs no worker will finish, and re-queue them or fail them with a reason.

    A running job whose lease ran out (its worker stopped renewing it: killed,
    or cut off) or that is past its hard time limit lost its worker; a queued
    job past its queue deadline (``Job.queue_deadline``) lost its message.
    Either is run again while attempts remain. Re-queueing is fenced by the
    attempt, so a worker presumed dead that is in fact alive can't write over
    the new run; re-sending by the deadline, so two sweeps send one message.

    A workflow run (a parent job with steps) holds no worker while its steps run: it
    is left alone while it has an active child job (each child has its own lease) or
    one that ended within a lease (the advance it sent is on its way),
    and the time limit does not apply to it (a run of many steps may take longer than
    one call may). One whose lease ran out with no active child lost an advance (its
    message, or the worker inside it): it is run again, and ``jobs.workflows.start``
    resumes it from its step rows.
    """
    with contextlib.suppress(CacheUnavailable):  # a sign of life, not the sweep's work
        record_worker_heartbeat()
    now = timezone.now()
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    stale_queue = timedelta(seconds=settings.JOB_QUEUE_STALE_AFTER)
    is_workflow_run = Exists(JobStep.objects.filter(run=OuterRef("pk")))
    lost_worker = Q(lease_expires_at__lt=now) | Q(started_at__lt=now - limit, is_workflow_run=False)
    # Rows queued before queue deadlines existed have none: their age decides.
    lost_message = Q(lease_expires_at__lt=now) | Q(
        lease_expires_at__isnull=True, created_at__lt=now - stale_queue
    )
    # A step that ended within a lease counts too: its advance is on its way (sent on commit).
    recently = now - timedelta(seconds=settings.JOB_LEASE_SECONDS)
    steps_running = Exists(
        Job.objects.filter(part_of=OuterRef("pk")).filter(
            Q(status__in=ACTIVE_STATUSES) | Q(finished_at__gte=recently)
        )
    )
    stuck = (
        Job.objects.alias(is_workflow_run=is_workflow_run, steps_running=steps_running)
        .filter(leader__isnull=True)
        .filter(
            Q(lost_worker, status=JobStatus.RUNNING, steps_running=False)
            | Q(lost_message, status=JobStatus.QUEUED)
        )
    )
    handled = 0
    for job in stuck.order_by("created_at")[:500]:
        if job.status == JobStatus.RUNNING:
            handled += 1
            if job.failed_attempts >= settings.JOB_MAX_ATTEMPTS:
                if job.mark_failed(job.attempts, code="worker_lost", message=""):
                    JobPublisher(job.id, job.attempts).status(JobStatus.FAILED, terminal=True)
                continue
            if not job.requeue_after_failure(job.attempts, code="worker_lost", message="", retry_in=0):
                continue
        elif job.resend_if_unclaimed():
            handled += 1
        else:
            continue  # claimed meanwhile, or another sweep sent it
        send_run(job)
    return handled
