"""What jobs tell Prometheus and the traces: counters as jobs finish, attributes on spans.

The counters count in the process that made the change (a worker for a run, the web
process for an answer from the cache or a cancel), after its transaction commits, from
the values ``UsageRollup.objects.count_jobs`` read anyway; ``/metrics`` adds up every
process (``promptlab.metrics``). Labels are bounded: statuses, providers and models
(models a template may run on: priced ones, or staff's).

Span attributes go on the span that is current (the web request's, the Celery task's):
through OpenTelemetry's API alone, which does nothing while tracing is off
(``promptlab.tracing``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram

from promptlab.metrics import LATENCY_BUCKETS

# Seconds; a generation's first token takes from tenths of a second to tens of seconds.
JOB_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0)

JOBS_FINISHED = Counter(
    "promptlab_jobs_finished",
    "Jobs that reached a final status (succeeded, failed, cancelled), by provider and model.",
    ["status", "provider", "model"],
)
TOKENS = Counter(
    "promptlab_tokens",
    "Tokens spent by finished jobs, by direction (input, output), provider and model.",
    ["direction", "provider", "model"],
)
COST = Counter(
    "promptlab_cost_usd",
    "Cost in USD of finished jobs with a known price, by provider and model.",
    ["provider", "model"],
)
CACHE_HITS = Counter(
    "promptlab_cache_hits",
    "Submissions answered at once from a recent identical result.",
    ["provider", "model"],
)
COALESCED = Counter(
    "promptlab_coalesced_submissions",
    "Submissions that joined an identical job already queued or running.",
    ["provider", "model"],
)
QUEUE_WAIT = Histogram(
    "promptlab_job_queue_wait_seconds",
    "From a job's submission to the start of the attempt that finished it (jobs with their own call).",
    ["provider"],
    buckets=LATENCY_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "promptlab_job_time_to_first_token_seconds",
    "From the start of a job's call to its first token.",
    ["provider", "model"],
    buckets=JOB_BUCKETS,
)
DURATION = Histogram(
    "promptlab_job_duration_seconds",
    "From the start of a job's call to its end, by final status.",
    ["provider", "model", "status"],
    buckets=JOB_BUCKETS,
)
EVENT_STREAMS = Gauge(
    "promptlab_event_streams_open",
    "Event streams (SSE) open now, over every web process.",
    multiprocess_mode="livesum",
)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def jobs_finished(jobs: Iterable[Mapping[str, Any]]) -> None:
    """Count jobs that just reached a final status (``JOB_VALUES`` of each)."""
    if not settings.METRICS_ENABLED:
        return
    for job in jobs:
        provider, model, status = job["provider"], job["model"], job["status"]
        JOBS_FINISHED.labels(status, provider, model).inc()
        spent(provider, model, job["input_tokens"] or 0, job["output_tokens"] or 0, job["cost"])
        if job["cached_from_id"] is not None:
            continue  # answered at once, with no call of its own: no times to tell
        if job["leader_id"] is None:
            if (waited := _seconds(job["created_at"], job["started_at"])) is not None:
                QUEUE_WAIT.labels(provider).observe(waited)
            if (first := _seconds(job["started_at"], job["first_token_at"])) is not None:
                TIME_TO_FIRST_TOKEN.labels(provider, model).observe(first)
        if (took := _seconds(job["started_at"], job["finished_at"])) is not None:
            DURATION.labels(provider, model, status).observe(took)


def spent(provider: str, model: str, input_tokens: int, output_tokens: int, cost: Decimal | None) -> None:
    """Count tokens and cost (also those a cancelled run turns out to have spent)."""
    if not settings.METRICS_ENABLED:
        return
    if input_tokens > 0:
        TOKENS.labels("input", provider, model).inc(input_tokens)
    if output_tokens > 0:
        TOKENS.labels("output", provider, model).inc(output_tokens)
    if cost is not None and cost > 0:
        COST.labels(provider, model).inc(float(cost))


def answered_without_a_call(provider: str, model: str, *, cached: bool) -> None:
    """A submission answered from the cache (``cached``) or joined to a running twin."""
    if settings.METRICS_ENABLED:
        (CACHE_HITS if cached else COALESCED).labels(provider, model).inc()


def describe_span(job: Any, **extra: Any) -> None:
    """Name the job on the current span: id, template, version, provider, model, and
    what ``extra`` adds (``cache``, tokens)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    version = job.template_version
    attributes = {
        "promptlab.job.id": str(job.pk),
        "promptlab.template": version.template.slug,
        "promptlab.template.version": version.number,
        "gen_ai.provider.name": job.provider,
        "gen_ai.request.model": job.model,
        **{name: value for name, value in extra.items() if value is not None},
    }
    span.set_attributes(attributes)


def cache_outcome(job: Any) -> str:
    """How a submission is answered: ``hit`` (from the cache), ``coalesced`` (with a twin), ``miss``."""
    if job.cached_from_id is not None:
        return "hit"
    return "coalesced" if job.leader_id is not None else "miss"


def recounted(before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]]) -> None:
    """Count what finished jobs turned out to have spent beyond what was counted (a
    cancelled run's tokens, recorded after its cancel): ``JOB_VALUES`` before and after."""
    earlier = {(job["provider"], job["model"]): job for job in before}
    for job in after:
        old = earlier.get((job["provider"], job["model"]), {})
        spent(
            job["provider"],
            job["model"],
            (job["input_tokens"] or 0) - (old.get("input_tokens") or 0),
            (job["output_tokens"] or 0) - (old.get("output_tokens") or 0),
            (job["cost"] or Decimal(0)) - (old.get("cost") or Decimal(0)),
        )
