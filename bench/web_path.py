"""The web path of a run, in process: what one API request costs the web process.

Each request goes through Django's WSGI handler (the one the dispatcher serves pages
and the API with), authenticated by a personal token, with the rate limits on. Per
request it counts the CPU time of the handling thread, the SQL queries and the Redis
round trips (a pipeline is one), and prints the medians. No worker runs: queued
messages are left in the broker and purged at the end.

    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/web_path.py [requests]

``BENCH_PROFILE=1`` also prints a pyinstrument profile of the new-inputs submits
(``BENCH_PROFILE=cached``: of the cached answers).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

from bench.common import environ  # noqa: E402

django.setup()

import redis.connection  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection  # noqa: E402

ROUND_TRIPS = [0]
_send = redis.connection.AbstractConnection.send_packed_command


def _counting_send(self: Any, command: Any, check_health: bool = True) -> None:
    ROUND_TRIPS[0] += 1
    _send(self, command, check_health)


redis.connection.AbstractConnection.send_packed_command = _counting_send  # type: ignore[method-assign]


def measure(app: WSGIHandler, make: Callable[[int], dict[str, Any]], n: int, expect: int) -> dict[str, float]:
    cpu, wall, queries, trips = [], [], [], []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries[-1] += 1
        return execute(sql, params, many, context)

    for i in range(n):
        env = make(i)
        statuses: list[str] = []

        def start_response(status: str, headers: Any, *_: Any, statuses: list[str] = statuses) -> None:
            statuses.append(status)

        queries.append(0)
        before_trips = ROUND_TRIPS[0]
        with connection.execute_wrapper(count):
            start_cpu, start = time.thread_time(), time.perf_counter()
            body = b"".join(app(env, start_response))
            cpu.append(time.thread_time() - start_cpu)
            wall.append(time.perf_counter() - start)
        trips.append(ROUND_TRIPS[0] - before_trips)
        if int(statuses[0].split()[0]) != expect:
            raise SystemExit(f"expected {expect}, got {statuses[0]}: {body[:300]!r}")
    return {
        "cpu_ms": statistics.median(cpu) * 1000,
        "wall_ms": statistics.median(wall) * 1000,
        "queries": statistics.median(queries),
        "redis_round_trips": statistics.median(trips),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    from accounts.models import PersonalToken, User
    from jobs.models import Job
    from promptlab.celery import app as celery_app
    from templates_app.models import Template

    user, _ = User.objects.get_or_create(email="bench-web@example.com", defaults={"plan": "enterprise"})
    _token, raw = PersonalToken.issue(user, "bench-web")
    template = Template.objects.get(slug="meeting-summary")
    app = WSGIHandler()
    generate = f"/api/v1/templates/{template.slug}/generate"
    run = time.time_ns()
    sent = iter(range(10**9))

    def new_inputs(_i: int) -> dict[str, Any]:
        body = {"inputs": {"notes": f"Bench notes {run}-{next(sent)}, each time new.", "max_bullets": 4}}
        return environ("POST", generate, raw, json.dumps(body).encode())

    same = json.dumps({"inputs": {"notes": f"Bench notes {run}, the same.", "max_bullets": 4}}).encode()
    seed = Job.objects.create(
        template_version=template.published_version, owner=user, prompt="p", provider="offline", model="m"
    )

    scenarios: list[tuple[str, Callable[[int], dict[str, Any]], int]] = [
        ("GET jobs/{id}", lambda i: environ("GET", f"/api/v1/jobs/{seed.pk}", raw), 200),
        ("POST generate, new inputs", new_inputs, 202),
    ]
    # The cached answer: one success of those inputs first, then every submit is answered from it.
    measure(app, lambda i: environ("POST", generate, raw, same), 1, 202)
    Job.objects.filter(owner=user, status="queued").update(
        status="succeeded", active_key=None, output="cached", finished_at=django.utils.timezone.now()
    )
    scenarios.append(("POST generate, cached answer", lambda i: environ("POST", generate, raw, same), 200))
    for _name, make, expect in scenarios:
        measure(app, make, 20, expect)  # warm: caches, connections, render children
    print(f"{'request':32} {'cpu ms':>8} {'wall ms':>8} {'queries':>8} {'redis':>6}")
    for name, make, expect in scenarios:
        result = measure(app, make, n, expect)
        print(
            f"{name:32} {result['cpu_ms']:8.2f} {result['wall_ms']:8.2f} {result['queries']:8.0f} "
            f"{result['redis_round_trips']:6.0f}"
        )
    if os.environ.get("BENCH_PROFILE"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        profiled = scenarios[-1] if os.environ["BENCH_PROFILE"] == "cached" else scenarios[1]
        with profiler:
            measure(app, profiled[1], n, profiled[2])
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    Job.objects.filter(owner=user).delete()
    celery_app.control.purge()


if __name__ == "__main__":
    main()
