"""Batch figures: a 10,000-row batch at a zero-latency provider (the offline provider with
OFFLINE_PROVIDER_DELAY=0), rows per second, against the same number of rows submitted one
by one through the API (`POST /api/v1/templates/{slug}/generate`, one request after the
other from one client, to `make run`'s uvicorn) in the same run; and the worker's peak
memory (the RSS high-water mark, VmHWM, of its main process and of its largest pool
process) over a 1,000-row and a 10,000-row batch. Also the CPU time per row of both roads
(worker, web server, the rows' writing), which, unlike rows/s, does not depend on what else
the machine runs.

Each measurement gets a worker of its own (the Procfile's command line: 2 processes on the
generation, batches and celery queues), so its high-water mark is that run's. Every row is
a new input: the API's rows are not the batch's (they would be answered from the batch's
cached results), but the same number, of the same shape. The batch runs at the default
BATCH_CONCURRENCY unless --concurrency says otherwise.

Usage: DATABASE_URL=… REDIS_URL=… python bench/batches.py [--rows 10000] [--small 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shlex
import string
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
# Throughput, not the limits: the API run would be cut off by the plan's rates.
os.environ["RATELIMIT_ENABLE"] = "0"
# Quiet: the API run makes 10,000 requests, which httpx would log one by one.
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["OFFLINE_PROVIDER_DELAY"] = "0"

import httpx  # noqa: E402

from bench.common import BIN, PYTHON, ROOT, cpu_ms, env, process, process_tree, web_server  # noqa: E402


def procfile_worker(concurrency: int = 2) -> list[str]:
    """The Procfile's worker command line, as `make run` starts it (2 processes)."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("worker:"))
    words = shlex.split(string.Template(line.split(":", 1)[1]).substitute(WORKER_CONCURRENCY=concurrency))
    return [str(BIN / Path(words[0]).name), *words[1:]]


WORKER = procfile_worker()


def high_water_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) if match else 0


def worker_peaks(root: int) -> tuple[float, float]:
    """(main process, largest pool process) high-water RSS in MB."""
    children = [pid for pid in process_tree(root) if pid != root]
    return high_water_kb(root) / 1024, max((high_water_kb(pid) for pid in children), default=0) / 1024


def own_cpu_ms() -> float:
    times = os.times()
    return (times.user + times.system) * 1000


def uvicorn_of(parent: int) -> int:
    """The uvicorn server this process started (its workers are in its tree)."""
    for pid in process_tree(parent):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent and b"uvicorn" in command:
            return pid
    raise RuntimeError("no uvicorn among this process's children")


def wait_ready(timeout: float = 60) -> None:
    """The worker answers a ping (its log is shared between runs: ask it instead)."""
    from promptlab.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError("the worker did not start")


def run_batch(template: Any, user: Any, rows: int, tag: str, concurrency: int | None) -> dict[str, float]:
    from batches.models import Batch, BatchState
    from batches.services import create_batch

    def inputs() -> Any:
        return ((n, {"topic": f"{tag} row {n}"}, {"topic": f"{tag} row {n}"}) for n in range(1, rows + 1))

    with process(WORKER) as worker:
        wait_ready()
        cpu_before = cpu_ms(process_tree(worker.pid)) + own_cpu_ms()
        started = time.perf_counter()
        batch = create_batch(template, user, inputs(), source_name="bench", concurrency=concurrency)
        written = time.perf_counter() - started
        while not Batch.objects.filter(pk=batch.pk, state=BatchState.FINISHED).exists():
            if time.perf_counter() - started > 1800:
                raise RuntimeError("the batch did not finish")
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        # The worker's CPU, and this process's writing of the rows (the web's share).
        cpu = cpu_ms(process_tree(worker.pid)) + own_cpu_ms() - cpu_before
        main_mb, pool_mb = worker_peaks(worker.pid)
    batch.refresh_from_db()
    assert batch.succeeded == rows, (batch.succeeded, batch.failed, rows)
    return {
        "seconds": seconds,
        "written": written,
        "main_mb": main_mb,
        "pool_mb": pool_mb,
        "concurrency": batch.concurrency,
        "cpu_ms_per_row": cpu / rows,
    }


def run_api(template: Any, token: str, rows: int, tag: str) -> dict[str, float]:
    from jobs.models import Job

    with web_server("promptlab") as url, process(WORKER) as worker:
        wait_ready()
        web = uvicorn_of(os.getpid())
        cpu_before = cpu_ms(process_tree(worker.pid)) + cpu_ms(process_tree(web))
        ids: list[str] = []
        started = time.perf_counter()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            for n in range(1, rows + 1):
                response = client.post(
                    f"/api/v1/templates/{template.slug}/generate",
                    json={"inputs": {"topic": f"{tag} row {n}"}},
                )
                assert response.status_code in (200, 202), response.text[:500]
                ids.append(response.json()["id"])
        submitted = time.perf_counter() - started
        while Job.objects.filter(pk__in=ids, status__in=["queued", "running"]).exists():
            if time.perf_counter() - started > 1800:
                raise RuntimeError("the API's jobs did not finish")
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        # The worker's CPU and the web server's (uvicorn and its workers): not this client's.
        cpu = cpu_ms(process_tree(worker.pid)) + cpu_ms(process_tree(web)) - cpu_before
        main_mb, pool_mb = worker_peaks(worker.pid)
    assert Job.objects.filter(pk__in=ids, status="succeeded").count() == rows
    return {
        "seconds": seconds,
        "submitted": submitted,
        "main_mb": main_mb,
        "pool_mb": pool_mb,
        "cpu_ms_per_row": cpu / rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=None)
    options = parser.parse_args()

    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    import django

    django.setup()
    from accounts.models import PersonalToken, User
    from templates_app.models import Template, Visibility

    user, _created = User.objects.get_or_create(
        email="batch-bench@example.com", defaults={"plan": "enterprise"}
    )
    User.objects.filter(pk=user.pk).update(plan="enterprise")
    user.refresh_from_db()
    _token, raw = PersonalToken.issue(user, "batch bench")
    template, created = Template.objects.get_or_create(
        slug="bench-batches", defaults={"name": "Batch bench", "visibility": Visibility.PUBLIC, "owner": user}
    )
    if created:
        template.create_version(
            body="Write about {{ topic }}.",
            parameters=[{"name": "topic", "type": "string", "label": "Topic", "max_length": 80}],
            provider="offline",
            model="offline-echo",
        )
    tag = f"run {random.randrange(10**9)}"

    small = run_batch(template, user, options.small, f"{tag} small", options.concurrency)
    large = run_batch(template, user, options.rows, f"{tag} large", options.concurrency)
    api = run_api(template, raw, options.rows, f"{tag} api")

    n = options.rows
    batch_rate, api_rate = n / large["seconds"], n / api["seconds"]
    print(
        f"{n:,}-row batch (concurrency {large['concurrency']:.0f}, 2 worker processes): "
        f"{large['seconds']:.1f} s = {batch_rate:.0f} rows/s (rows written in {large['written']:.1f} s)"
    )
    print(
        f"the same number of rows one by one through the API: {api['seconds']:.1f} s = {api_rate:.0f} rows/s "
        f"(submitting {api['submitted']:.1f} s); batch / API = {batch_rate / api_rate:.2f}x"
    )
    # CPU per row does not depend on what else the machine runs, as rows/s does.
    print(
        f"CPU per row: batch {large['cpu_ms_per_row']:.1f} ms (worker, and writing the rows), API "
        f"{api['cpu_ms_per_row']:.1f} ms (worker and web server); API / batch = "
        f"{api['cpu_ms_per_row'] / large['cpu_ms_per_row']:.2f}x"
    )
    print(
        f"worker peak RSS, {options.small:,} rows: main {small['main_mb']:.0f} MB, largest pool process "
        f"{small['pool_mb']:.0f} MB; {n:,} rows: main {large['main_mb']:.0f} MB, largest pool process "
        f"{large['pool_mb']:.0f} MB (ratio {large['pool_mb'] / small['pool_mb']:.2f}x); API run: main "
        f"{api['main_mb']:.0f} MB, pool {api['pool_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
