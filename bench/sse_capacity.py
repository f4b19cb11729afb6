"""Open SSE streams held by one stream process, and the memory each costs.

Starts one uvicorn process serving promptlab.asgi as `make run` does (one
worker), creates running jobs (rows in `running`, whose chunks this script
publishes on the jobs' Redis channels as a worker would), opens N concurrent
streams on them over raw sockets, and reads the process's RSS before (after a
warm-up) and with them all open: memory per stream = delta / N. It then
publishes chunks and checks every stream receives each one exactly once, and
reports the server's Redis connections (one shared subscriber expected).

Usage: DATABASE_URL=… REDIS_URL=… python bench/sse_capacity.py   (BENCH_STREAMS, default 2000)
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")

from bench.common import BIN, PYTHON, ROOT, env, free_port, process, wait_http  # noqa: E402

STREAMS = int(os.environ.get("BENCH_STREAMS", "2000"))
JOBS = int(os.environ.get("BENCH_STREAM_JOBS", "40"))
CHUNKS = 5
OPEN_CONCURRENCY = 100  # streams being opened at once (a burst of page loads)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


class Stream:
    """One SSE client on a raw socket: counts chunk events after the first status event."""

    def __init__(self, port: int, job_id: str, cookie: str) -> None:
        self.port, self.job_id, self.cookie = port, job_id, cookie
        self.opened = asyncio.Event()
        self.chunks: list[str] = []
        self.writer: asyncio.StreamWriter | None = None
        self.error: str | None = None

    async def run(self, gate: asyncio.Semaphore) -> None:
        try:
            async with gate:
                reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.writer.write(
                    f"GET /jobs/{self.job_id}/events/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Accept: text/event-stream\r\nCookie: sessionid={self.cookie}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                if b" 200 " not in head.split(b"\r\n", 1)[0]:
                    raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
                buffer = b""
                while not self.opened.is_set():
                    buffer += await reader.read(65536)
                    if b"event: status" in buffer:
                        self.opened.set()
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                buffer += data
                *events, buffer = buffer.split(b"\n\n")
                for event in events:
                    if b"event: chunk" in event:
                        self.chunks.append(event.split(b"data: ", 1)[1].split(b"\n")[0].decode())
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            self.error = f"{type(exc).__name__}: {exc}"
            self.opened.set()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


async def hold_streams(pid: int, port: int, jobs: list, cookie: str) -> dict[str, float]:  # type: ignore[type-arg]
    from jobs.streaming import JobPublisher

    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    # Warm-up: a few streams opened and closed load every module the path needs.
    warm = [Stream(port, str(jobs[n % len(jobs)].pk), cookie) for n in range(20)]
    tasks = [asyncio.create_task(s.run(gate)) for s in warm]
    await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in warm)), 60)
    for stream in warm:
        stream.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(2)
    baseline, baseline_threads = rss_kb(pid), threads_of(pid)

    streams = [Stream(port, str(jobs[n % len(jobs)].pk), cookie) for n in range(STREAMS)]
    started = time.monotonic()
    tasks = [asyncio.create_task(s.run(gate)) for s in streams]
    await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in streams)), 600)
    open_seconds = time.monotonic() - started
    errors = [s.error for s in streams if s.error]
    await asyncio.sleep(2)
    held, held_threads = rss_kb(pid), threads_of(pid)

    offset = 0
    for n in range(CHUNKS):
        text = f"chunk{n} "
        for job in jobs:
            JobPublisher(job.pk, 1).chunk(offset, text)
        offset += len(text)
    expected = [f"chunk{n} " for n in range(CHUNKS)]
    await wait_for(lambda: all(len(s.chunks) >= CHUNKS for s in streams if not s.error), 60)
    complete = sum(1 for s in streams if s.chunks == expected)
    for stream in streams:
        stream.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "baseline_kb": baseline,
        "held_kb": held,
        "baseline_threads": baseline_threads,
        "held_threads": held_threads,
        "open_seconds": open_seconds,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "complete": complete,
    }


def redis_stream_clients(pid: int) -> list[dict[str, str]]:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    return [c for c in client.client_list() if c.get("name") == f"promptlab-streams-{pid}"]


def main() -> None:
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("sse_capacity.py measures the SSE path: set REDIS_URL (and DATABASE_URL).")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env(), check=True, capture_output=True)
    import django

    django.setup()
    from django.test import Client
    from django.utils import timezone

    from accounts.models import User
    from jobs.models import Job, JobStatus
    from templates_app.models import Template

    user, _ = User.objects.get_or_create(email="sse-bench@example.com")
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    version = Template.objects.get(slug="meeting-summary").published_version
    jobs = [
        Job.objects.create(
            template_version=version,
            owner=user,
            prompt="bench",
            provider="offline",
            model="offline",
            input_hash=f"sse-bench-{n}",
            status=JobStatus.RUNNING,
            attempts=1,
            started_at=timezone.now(),
        )  # fmt: skip
        for n in range(JOBS)
    ]
    port = free_port()
    # As `make run`'s Procfile serves it, with one worker process so one PID holds every stream.
    args = [
        str(BIN / "uvicorn"), "promptlab.asgi:application", "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--log-level", "warning", "--timeout-graceful-shutdown", "3",
    ]  # fmt: skip
    try:
        with process(args) as server:
            wait_http(f"http://127.0.0.1:{port}/health/")
            figures = asyncio.run(hold_streams(server.pid, port, jobs, cookie))
            subscribers = redis_stream_clients(server.pid)
    finally:
        Job.objects.filter(pk__in=[job.pk for job in jobs]).delete()
    delta = figures["held_kb"] - figures["baseline_kb"]
    print(f"streams: {STREAMS} on {JOBS} running jobs, one uvicorn process (as make run serves)")
    print(f"opened in {figures['open_seconds']:.1f} s ({STREAMS / figures['open_seconds']:.0f}/s), errors: "
          f"{figures['errors']} {figures['first_error']}")  # fmt: skip
    before, held = figures["baseline_kb"] / 1024, figures["held_kb"] / 1024
    print(f"RSS before (after warm-up): {before:.1f} MB; with the streams open: {held:.1f} MB")
    print(f"threads: {figures['baseline_threads']} -> {figures['held_threads']}")
    print(f"memory per stream: {delta / STREAMS:.1f} KB (target < 50 KB)")
    print(f"streams that received all {CHUNKS} chunks exactly once: {figures['complete']} / {STREAMS}")
    print(f"server's shared-subscriber Redis connections: {len(subscribers)} "
          f"(subscribed channels at the end: {[c.get('sub') for c in subscribers]})")  # fmt: skip


if __name__ == "__main__":
    main()
