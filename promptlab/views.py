from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .heartbeat import worker_seen_recently


def _check(probe: Any) -> str:
    try:
        probe()
    except Exception:
        return "unavailable"
    return "ok"


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    cache.set("promptlab:health", 1, timeout=10)


def _broker() -> None:
    from promptlab.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """Database, cache, broker, and whether a worker was seen recently."""
    checks = {"database": _check(_database), "cache": _check(_cache), "broker": _check(_broker)}
    checks["worker"] = "ok" if worker_seen_recently() else "not seen recently"
    healthy = all(checks[name] == "ok" for name in ("database", "cache", "broker"))
    body = {"status": "ok" if healthy else "degraded", **checks}
    return JsonResponse(body, status=200 if healthy else 503)


class JobsCollector:
    """Job counts, tokens and cost, read from the database at scrape time (so
    every worker's work counts, not one process's counters)."""

    def collect(self) -> Any:
        from jobs.models import Job

        by_status = GaugeMetricFamily("promptlab_jobs", "Jobs by status.", labels=["status"])
        for row in Job.objects.values("status").annotate(n=Count("pk")):
            by_status.add_metric([row["status"]], row["n"])
        yield by_status
        totals = Job.objects.aggregate(i=Sum("input_tokens"), o=Sum("output_tokens"), c=Sum("cost"))
        tokens = CounterMetricFamily("promptlab_tokens", "Tokens used by jobs.", labels=["direction"])
        tokens.add_metric(["input"], totals["i"] or 0)
        tokens.add_metric(["output"], totals["o"] or 0)
        yield tokens
        yield CounterMetricFamily(
            "promptlab_cost_usd", "Cost of jobs with a known price.", value=float(totals["c"] or 0)
        )


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics: for a METRICS_TOKEN bearer, or from loopback when none is set."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given, token):
            return HttpResponse(status=403)
    elif request.META.get("REMOTE_ADDR") not in ("127.0.0.1", "::1"):
        return HttpResponse(status=403)
    registry = CollectorRegistry()
    registry.register(JobsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
