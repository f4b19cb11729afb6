"""Prometheus series from every process, the web servers' and the workers' alike.

prometheus-client's multiprocess mode: each process writes its series to files of its
own in one directory (PROMETHEUS_MULTIPROC_DIR, which the settings set before this module
is first imported, because the client picks its storage when it is imported), and
``/metrics`` adds up every file at scrape time, so a counter counts what every web
process and every worker process did, those that have since exited included.

A process's files are named by ``process_identity()``: the host name and the process id,
so that containers sharing the directory (docker-compose mounts one volume in the web and
the worker containers, each with its own process ids) never write into each other's
files. Live gauges (open event streams) must forget a process that is gone: it says so
itself when it ends (Celery's worker process shutdown, the ASGI lifespan's shutdown, and
atexit for the rest), and each process, as it starts, forgets those of its host that died
without saying so (killed) and its own leftovers from an earlier life under the same
identity (a restarted container's process id 1).

Counters here are the cheap kind (a lock and a write to a memory-mapped file); the cost
per request is measured by ``bench/observability.py``.
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import values

# The settings put PROMETHEUS_MULTIPROC_DIR in the environment: have them read first.
settings.PROMETHEUS_MULTIPROC_DIR  # noqa: B018

_HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def process_identity() -> str:
    """What this process's files are named by (no underscore: the client splits names on it)."""
    return f"{_HOST}-{os.getpid()}"


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Before any metric exists: the storage of every series made from here on.
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identity)

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

# Seconds; from a cached page (a few ms) to a slow provider call answered with `wait`.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Methods kept as they are; any other (made up by a client) is counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def directory() -> Path | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


HTTP_REQUESTS = Counter(
    "promptlab_http_requests",
    "HTTP requests answered, by route (the URL pattern's name), method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "promptlab_http_request_duration_seconds",
    "Time to answer an HTTP request (to its first byte, for a stream), by route and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)


def forget_dead_processes(*, own_too: bool = False) -> None:
    """Take out the live gauges of this host's processes that died without saying so, and
    with ``own_too`` this identity's own from an earlier life (only before this process
    wrote any: it would lose its own)."""
    path = directory()
    if path is None:
        return
    own = process_identity()
    prefix = f"{_HOST}-"
    for file in path.glob("gauge_live*_*.db"):
        identity = file.name.rsplit("_", 1)[1].removesuffix(".db")
        pid = identity.removeprefix(prefix)
        if identity == own:
            if own_too:
                multiprocess.mark_process_dead(identity, str(path))
        elif identity.startswith(prefix) and pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(identity, str(path))


def process_started(*, forked: bool = False) -> None:
    """A server or worker process starts: forget the dead, and say so at exit. A child
    just forked (a Celery worker process) has written nothing yet under its identity."""
    forget_dead_processes(own_too=forked)
    atexit.register(process_ended)


# As the module loads, before this process made any series (the labelled ones above make
# theirs when first used): nothing under its identity can be its own yet.
forget_dead_processes(own_too=True)


def process_ended() -> None:
    """This process is ending: its live gauges no longer count (its counters still do)."""
    path = directory()
    if path is not None:
        multiprocess.mark_process_dead(process_identity(), str(path))


def exposition(collectors: Iterable[Any] = ()) -> tuple[bytes, str]:
    """Every process's series (and those of ``collectors``, read now) in the text format."""
    registry = CollectorRegistry()
    path = directory()
    if path is not None:
        multiprocess.MultiProcessCollector(registry, path=str(path))
    else:
        registry = REGISTRY  # one process: its own series
    extra = CollectorRegistry()
    for collector in collectors:
        extra.register(collector)
    return generate_latest(registry) + generate_latest(extra), CONTENT_TYPE_LATEST


def route_of(request: HttpRequest) -> str:
    """The route a request took: its URL pattern's name (``jobs:detail``), never its path."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or "unnamed"
    if request.path.startswith(settings.STATIC_URL or "/static/"):
        return "static"
    return "unmatched"


class HttpMetricsMiddleware:
    """Counts every answer by route, method and status, and times it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        route = route_of(request)
        method = request.method if request.method in METHODS else "other"
        HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
        HTTP_DURATION.labels(route, method).observe(time.perf_counter() - started)
        return response
