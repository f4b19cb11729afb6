from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client.core import GaugeMetricFamily

from .heartbeat import worker_seen_recently
from .metrics import exposition


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
    """The jobs waiting or running now, read from the database at scrape time (the partial
    index of active jobs answers it, however many finished jobs there are)."""

    def collect(self) -> Any:
        from jobs.models import ACTIVE_STATUSES, Job

        active = GaugeMetricFamily(
            "promptlab_jobs_active",
            "Jobs queued or running now, by status, provider and model.",
            labels=["status", "provider", "model"],
        )
        rows = (
            Job.objects.filter(status__in=ACTIVE_STATUSES)
            .values("status", "provider", "model")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for row in rows:
            active.add_metric([row["status"], row["provider"], row["model"]], row["n"])
        yield active


class BreakersCollector:
    """Each provider's circuit breaker, read from the cache every worker shares at scrape time."""

    def collect(self) -> Any:
        from providers import provider_names
        from providers.circuit import STATES, breaker_states

        family = GaugeMetricFamily(
            "promptlab_provider_breaker_state",
            "A provider's circuit breaker: 1 for its state now (closed, open, half_open), 0 for the others.",
            labels=["provider", "state"],
        )
        try:
            states = breaker_states(provider_names())
        except Exception:
            return  # the cache is down: no state to tell (the breakers let calls through)
        for provider, now in states.items():
            for state in STATES:
                family.add_metric([provider, state], 1 if state == now else 0)
        yield family


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics: for a METRICS_TOKEN bearer, or from loopback when none is set."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given, token):
            return HttpResponse(status=403)
    elif request.META.get("REMOTE_ADDR") not in ("127.0.0.1", "::1"):
        return HttpResponse(status=403)
    body, content_type = exposition([JobsCollector(), BreakersCollector()])
    return HttpResponse(body, content_type=content_type)
