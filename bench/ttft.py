"""Overhead PromptLab adds to time-to-first-token, with Redis or on the embedded defaults.

A local fake provider (tests/fakes/llm_server.py, OpenAI wire protocol, a fixed
first-token delay) serves every measurement, alternated run by run:

* baseline: the provider's own time to first token, an OpenAI SDK streaming call
  straight to it (request sent → first text delta);
* PromptLab with REDIS_URL: the form POST → the job page's SSE stream delivers the
  first chunk (form handling, job row, Celery round trip, the worker's provider call,
  Redis pub/sub, the stream);
* PromptLab without (the embedded defaults: SQLite, the filesystem broker): the form
  POST → the job page loaded → its script's progress polls (JOB_PAGE_POLL_QUEUED_MS
  while queued, JOB_PAGE_POLL_RUNNING_MS while running) return the first text; and the
  same with a poll every second, as the page polled before it had the progress
  endpoint, to compare.

Runs the real stack (uvicorn + dispatcher as `make run` serves, a Celery worker
process) on DATABASE_URL / REDIS_URL, or on the embedded defaults when they are
unset. Prints medians of BENCH_RUNS (50) and each as a ratio of the baseline.
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
os.environ["RATELIMIT_ENABLE"] = "0"  # latency, not the limits

import httpx  # noqa: E402

from bench.common import BIN, PYTHON, ROOT, env, process, web_server  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer, slow_first_token  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "50"))
FIRST_TOKEN_DELAY = float(os.environ.get("BENCH_FIRST_TOKEN_DELAY", "0.2"))
MODEL = "gpt-bench-1"


def direct_first_token(client) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Write 2 lines about rain."}], stream=True
    )
    try:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                return time.perf_counter() - started
    finally:
        stream.close()
    raise RuntimeError("no text from the provider")


def page_first_token(client: httpx.Client, base: str, path: str, token: str, n: int) -> float:
    started = time.perf_counter()
    response = client.post(
        f"{base}{path}",
        data={"topic": f"rain {n} {time.time_ns()}", "count": "2", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}{path}"},
    )
    assert response.status_code == 302, response.status_code
    with client.stream("GET", f"{base}{response.headers['location']}events/") as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "chunk":
                return time.perf_counter() - started
            elif line.startswith("data: ") and event == "done":
                break
    raise RuntimeError("the stream ended without a chunk")


def _submit(client: httpx.Client, base: str, path: str, token: str, n: int) -> str:
    response = client.post(
        f"{base}{path}",
        data={"topic": f"rain {n} {time.time_ns()}", "count": "2", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}{path}"},
    )
    assert response.status_code == 302, response.status_code
    return response.headers["location"]


def polled_first_token(
    client: httpx.Client, base: str, path: str, token: str, n: int, *, queued_ms: int, running_ms: int
) -> float:
    """As the job page's script without Redis: the page, then progress polls until text."""
    started = time.perf_counter()
    job_url = f"{base}{_submit(client, base, path, token, n)}"
    client.get(job_url)
    while True:
        data = client.get(f"{job_url}progress/", params={"attempt": -1, "offset": 0}).json()
        if data["text"]:
            return time.perf_counter() - started
        if data["terminal"]:
            raise RuntimeError("the job ended without text")
        time.sleep((running_ms if data["status"] == "running" else queued_ms) / 1000)


def main() -> None:
    streaming = bool(os.environ.get("REDIS_URL"))
    fake = FakeLLMServer(reply="Rain on the roof; the gutters sing along.").start()
    os.environ.update(OPENAI_API_KEY="bench-key", OPENAI_BASE_URL=fake.openai_base_url)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    import django

    django.setup()
    import openai

    from templates_app.models import Template, Visibility

    template, created = Template.objects.get_or_create(
        slug="bench-ttft", defaults={"name": "TTFT bench", "visibility": Visibility.PUBLIC}
    )
    if created:
        template.create_version(
            body="Write {{ count }} lines about {{ topic }}.",
            parameters=[
                {"name": "topic", "type": "string", "label": "Topic", "max_length": 80},
                {"name": "count", "type": "integer", "label": "Count", "min": 1, "max": 5},
            ],
            provider="openai",
            model=MODEL,
        )
    path = template.get_absolute_url()
    direct = openai.OpenAI(api_key="bench-key", base_url=fake.openai_base_url, max_retries=0)
    worker = [
        str(BIN / "celery"), "-A", "promptlab", "worker", "--queues", "generation,celery",
        "--concurrency", "2", "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
    ]  # fmt: skip
    try:
        with process(worker), web_server() as base, httpx.Client(timeout=30) as client:
            client.get(f"{base}{path}")
            token = client.cookies["csrftoken"]
            fake.script(*[slow_first_token(FIRST_TOKEN_DELAY)] * (3 * RUNS + 10))
            ways = _ways(streaming)
            for n in range(3):  # warm-up: imports, connections, the worker's SDK client
                for measure in ways.values():
                    measure(client, base, path, token, -n - 1)
                direct_first_token(direct)
            baseline: list[float] = []
            measured: dict[str, list[float]] = {name: [] for name in ways}
            for n in range(RUNS):
                baseline.append(direct_first_token(direct) * 1000)
                for name, measure in ways.items():
                    measured[name].append(measure(client, base, path, token, n) * 1000)
    finally:
        fake.stop()
    base_ms = statistics.median(baseline)
    delay_ms = FIRST_TOKEN_DELAY * 1000
    setup = "Redis + DATABASE_URL" if streaming else "embedded defaults (SQLite, filesystem broker)"
    print(
        f"{setup}; runs: {RUNS}, alternated; fake OpenAI-protocol server, first token after {delay_ms:.0f} ms"
    )
    print(f"baseline, the provider's own first token (SDK call straight to it): median {base_ms:.1f} ms")
    for name, values in measured.items():
        overheads = [p - b for p, b in zip(values, baseline, strict=True)]
        print(
            f"{name}: median {statistics.median(values):.1f} ms, {statistics.median(values) / base_ms:.2f}x "
            f"the baseline (overhead median {statistics.median(overheads):.1f} ms, "
            f"p95 {statistics.quantiles(overheads, n=20)[-1]:.1f} ms)"
        )


def _ways(streaming: bool) -> dict[str, Any]:
    """How the page gets its first text in this setup, by name."""
    from django.conf import settings

    if streaming:
        return {"form POST -> first token on the job page's stream": page_first_token}
    queued, running = settings.JOB_PAGE_POLL_QUEUED_MS, settings.JOB_PAGE_POLL_RUNNING_MS
    return {
        f"form POST -> first token by the page's polls ({queued}/{running} ms)": functools.partial(
            polled_first_token, queued_ms=queued, running_ms=running
        ),
        "form POST -> first token by a poll every 1 s (the page before)": functools.partial(
            polled_first_token, queued_ms=1000, running_ms=1000
        ),
    }


if __name__ == "__main__":
    main()
