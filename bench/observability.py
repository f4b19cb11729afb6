"""What metrics and traces cost a request, in process, against the same app without them.

Three configurations of the same checkout, each in a process of its own (the settings
and the instrumentation are per process): metrics off (``METRICS_ENABLED=0``, no
tracing), metrics on (the default), and metrics and tracing on (``OTEL_TRACES_EXPORTER=
console``, the SDK's batch processor serializing every span to a sink: the whole path
of a span but the network). Each one serves the same requests through
``promptlab.wsgi.application`` (the handler the dispatcher serves the API with, built as
a server builds it, tracing configured from the environment):

* ``GET jobs/{id}`` with a personal token (authentication, one read, the serializer);
* ``POST generate`` answered from the result cache (a job created and finished at once:
  the job counters, tokens, cache hit, the usage rollups).

Per request it reports the process's CPU time (every thread: the span processor's too,
flushed before the clock stops) and the median wall time. Configurations take turns
over ``--rounds`` rounds (the order rotated), and each figure is the median of its
rounds; the ratios are against metrics off. The machine's load moves the absolute
figures; the ratios, from the same rounds, hold.

    DATABASE_URL=… [REDIS_URL=…] .venv/bin/python bench/observability.py [--requests 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIGS: dict[str, dict[str, str]] = {
    "metrics off": {"METRICS_ENABLED": "0"},
    "metrics on": {"METRICS_ENABLED": "1"},
    "metrics + tracing on": {"METRICS_ENABLED": "1", "OTEL_TRACES_EXPORTER": "console"},
}


def child(requests: int, out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.common import environ

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
    os.environ["RATELIMIT_ENABLE"] = "0"
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from accounts.models import PersonalToken, User
    from jobs.models import Job
    from promptlab.wsgi import application
    from templates_app.models import Template

    user, _ = User.objects.get_or_create(email="bench-observe@example.com", defaults={"plan": "enterprise"})
    _token, raw = PersonalToken.issue(user, "bench-observability")
    template = Template.objects.filter(slug="bench-observability").first()
    if template is None:
        template = Template.objects.create(slug="bench-observability", name="Bench", owner=user)
        template.create_version(body="Hello {{ name }}", parameters=[{"name": "name", "type": "string"}])
    version = template.published_version
    seed = Job.objects.create(
        template_version=version, owner=user, prompt="p", provider="offline", model=version.model
    )
    # One success of these inputs: every generate below is answered from it.
    body = json.dumps({"inputs": {"name": f"bench {time.time_ns()}"}}).encode()
    generate = f"/api/v1/templates/{template.slug}/generate"

    def call(env: dict[str, Any], expect: int) -> None:
        statuses: list[str] = []
        b"".join(application(env, lambda status, headers, *_: statuses.append(status)))
        if int(statuses[0].split()[0]) != expect:
            raise SystemExit(f"expected {expect}, got {statuses[0]}")

    call(environ("POST", generate, raw, body), 202)
    Job.objects.filter(owner=user, status="queued").update(
        status="succeeded", active_key=None, output="cached", finished_at=django.utils.timezone.now()
    )
    scenarios = {
        "GET jobs/{id}": (lambda: environ("GET", f"/api/v1/jobs/{seed.pk}", raw), 200),
        "POST generate, cached answer": (lambda: environ("POST", generate, raw, body), 200),
    }
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", lambda: None)
    results: dict[str, dict[str, float]] = {}
    for name, (make, expect) in scenarios.items():
        for _ in range(30):  # warm: caches, connections, render children
            call(make(), expect)
        flush()
        walls = []
        cpu_start = time.process_time()
        for _ in range(requests):
            env = make()
            start = time.perf_counter()
            call(env, expect)
            walls.append(time.perf_counter() - start)
        flush()
        cpu = time.process_time() - cpu_start
        results[name] = {"cpu_ms": cpu / requests * 1000, "wall_ms": statistics.median(walls) * 1000}
    Job.objects.filter(owner=user).delete()
    out.write_text(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.requests, args.child)
        return
    figures: dict[str, dict[str, list[dict[str, float]]]] = {name: {} for name in CONFIGS}
    names = list(CONFIGS)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                env = {**os.environ, **CONFIGS[name]}
                if "OTEL_TRACES_EXPORTER" not in CONFIGS[name]:
                    env.pop("OTEL_TRACES_EXPORTER", None)
                # A fresh metrics directory per process: the figures are of this run alone.
                env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-metrics-")
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.observability",
                        "--child",
                        out.name,
                        "--requests",
                        str(args.requests),
                    ],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,  # the console exporter's spans
                )
                for scenario, result in json.loads(Path(out.name).read_text()).items():
                    figures[name].setdefault(scenario, []).append(result)
            print(f"round {round_ + 1}: {name} done", file=sys.stderr, flush=True)
    base = figures["metrics off"]
    print(f"{'request':30} {'configuration':22} {'cpu ms':>8} {'wall ms':>8} {'cpu ×':>6} {'wall ×':>6}")
    for scenario in base:
        base_cpu = statistics.median(r["cpu_ms"] for r in base[scenario])
        base_wall = statistics.median(r["wall_ms"] for r in base[scenario])
        for name in CONFIGS:
            cpu = statistics.median(r["cpu_ms"] for r in figures[name][scenario])
            wall = statistics.median(r["wall_ms"] for r in figures[name][scenario])
            ratios = f"{cpu / base_cpu:6.2f} {wall / base_wall:6.2f}"
            print(f"{scenario:30} {name:22} {cpu:8.3f} {wall:8.3f} {ratios}")


if __name__ == "__main__":
    main()
