"""Complete runs through the real web server, and what they cost the web process.

One uvicorn process serving promptlab.asgi (as Procfile's `web`, one worker so that
one process is measured) and a Celery worker on the offline provider without delay.
A client runs jobs one after another, each with new inputs: either submit and follow
the job's event stream to `done` (two requests), or submit with `"wait"` (one).
Printed per mode: median and p95 latency of a run, and the web process's CPU time
per run (/proc, user + system), measured over the runs.

    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/web_runs.py [runs]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import httpx  # noqa: E402

from bench.common import BIN, free_port, process, wait_http  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, its finished children included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def follow(client: httpx.Client, job: dict) -> str:
    """Read the job's event stream until `done`; the final status."""
    with client.stream("GET", job["links"]["events"].removeprefix("/api/v1")) as events:
        event = None
        for line in events.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "done":
                return line.removeprefix("data: ")
    raise RuntimeError("the stream ended before done")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    import django

    django.setup()
    from accounts.models import PersonalToken, User

    user, _ = User.objects.get_or_create(email="bench-runs@example.com", defaults={"plan": "enterprise"})
    _token, raw = PersonalToken.issue(user, "bench-runs")
    port = free_port()
    web = [str(BIN / "uvicorn"), "promptlab.asgi:application", "--port", str(port), "--workers", "1",
           "--no-access-log", "--log-level", "warning"]  # fmt: skip
    worker = [str(BIN / "celery"), "-A", "promptlab", "worker", "--queues", "generation,celery", "-c", "2",
              "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]  # fmt: skip
    stamp = time.time_ns()
    with process(worker, OFFLINE_PROVIDER_DELAY="0"), process(web) as server:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health/")
        headers = {"Authorization": f"Bearer {raw}"}
        with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30) as client:
            generate = "/templates/meeting-summary/generate"
            counter = iter(range(10**9))

            def body(**extra: object) -> dict:
                notes = f"Bench notes {stamp}-{next(counter)}, new every time."
                return {"inputs": {"notes": notes, "max_bullets": 4}, **extra}

            def streamed() -> None:
                job = client.post(generate, json=body()).json()
                assert follow(client, job) == "succeeded"

            def waited() -> None:
                response = client.post(generate, json=body(wait=10))
                assert response.status_code == 200 and response.json()["status"] == "succeeded", response.text

            modes = {"submit + stream": streamed}
            probe = client.post(generate, json=body(wait=10))
            if probe.status_code in (200, 202):
                modes["submit with wait"] = waited
            for run in modes.values():
                for _ in range(10):
                    run()  # warm: connections, caches, render children
            print(f"{'mode':20} {'p50 ms':>8} {'p95 ms':>8} {'web cpu ms/run':>15}")
            for name, run in modes.items():
                latencies = []
                before = cpu_seconds(server.pid)
                for _ in range(runs):
                    start = time.perf_counter()
                    run()
                    latencies.append(time.perf_counter() - start)
                cpu = (cpu_seconds(server.pid) - before) / runs
                p95 = statistics.quantiles(latencies, n=20)[-1]
                p50 = statistics.median(latencies)
                print(f"{name:20} {p50 * 1000:8.1f} {p95 * 1000:8.1f} {cpu * 1000:15.2f}")


if __name__ == "__main__":
    main()
