"""The worker's cost per job: CPU of the worker processes, PostgreSQL sessions and
transactions, queries and Redis round trips, against a zero-latency OpenAI-protocol fake.

Usage: DATABASE_URL=… REDIS_URL=… python bench/worker.py [--pool prefork] [--concurrency 2] [--jobs 300]

CPU is read from /proc (utime+stime of the worker and its children, the exited
ones included), so a machine busy with other work distorts it less than wall
time. Queries and Redis round trips are counted on one job run in this process.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")

from bench.common import BIN, PYTHON, ROOT, env, process  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer  # noqa: E402

MODEL = "gpt-4o-mini"
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and every descendant, living or reaped."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        # utime, stime, cutime, cstime (fields 14-17; index 11-14 after the name)
        total += sum(int(v) for v in fields[11:15]) / TICKS
        pending.extend(int(c) for c in children)
    return total


def database_counters() -> tuple[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT sessions, xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        )
        sessions, xacts = cursor.fetchone()
    return sessions, xacts


def backend_cpu_seconds() -> float:
    """On-CPU time of this database's PostgreSQL backends now alive, this process's own excepted
    (those that exit before the next reading are missed: count sessions too)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        pids = [pid for (pid,) in cursor.fetchall()]
    total = 0
    for pid in pids:
        try:  # nanoseconds on the CPU, not rounded to clock ticks as /proc/<pid>/stat is
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        except FileNotFoundError:
            continue
    return total / 1e9


def wait_all_done(ids: list, timeout: float = 300) -> None:  # type: ignore[type-arg]
    from jobs.models import Job

    deadline = time.monotonic() + timeout
    while Job.objects.filter(pk__in=ids, status__in=["queued", "running"]).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("jobs did not finish")
        time.sleep(0.02)


def count_one_job(version, inputs) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Queries and Redis round trips of one job run in this process (Celery's eager apply)."""
    from unittest import mock

    import redis.connection
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs.models import Job
    from jobs.services import submit_generation
    from jobs.tasks import run_job

    with mock.patch("jobs.services.enqueue_job"):  # run here, not by a worker
        job = submit_generation(version, inputs)
    trips = 0
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):  # type: ignore[no-untyped-def]
        nonlocal trips
        trips += 1
        return original(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        with CaptureQueriesContext(connection) as queries:
            run_job.apply(args=[str(job.pk)])
    finally:
        redis.connection.AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
    assert Job.objects.get(pk=job.pk).status == "succeeded"
    return len(queries), trips


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=300)
    options = parser.parse_args()

    fake = FakeLLMServer(reply="Rain on the roof; the gutters sing along.").start()
    os.environ.update(OPENAI_API_KEY="bench-key", OPENAI_BASE_URL=fake.openai_base_url)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    import django

    django.setup()
    from jobs.services import submit_generation
    from templates_app.models import Template, Visibility

    template, created = Template.objects.get_or_create(
        slug="bench-worker", defaults={"name": "Worker bench", "visibility": Visibility.PUBLIC}
    )
    if created:
        template.create_version(
            body="Write about {{ topic }}.",
            parameters=[{"name": "topic", "type": "string", "label": "Topic", "max_length": 80}],
            provider="openai",
            model=MODEL,
        )
    version = template.published_version
    run_id = random.randrange(10**9)

    def inputs(n: object) -> dict[str, object]:
        return {"topic": f"run {run_id} {n}"}

    count_one_job(version, inputs("counted-warm"))
    queries, trips = count_one_job(version, inputs("counted"))
    print(f"one job in this process: {queries} queries, {trips} Redis round trips")

    worker = [
        str(BIN / "celery"), "-A", "promptlab", "worker", "--queues", "generation,celery",
        "--pool", options.pool, "--concurrency", str(options.concurrency),
        "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
    ]  # fmt: skip
    try:
        with process(worker) as proc:
            warm = [submit_generation(version, inputs(f"warm {n}")).pk for n in range(20)]
            wait_all_done(warm)
            sessions0, xacts0 = database_counters()
            cpu0 = tree_cpu_seconds(proc.pid)
            backends0 = backend_cpu_seconds()
            calls0 = len(fake.calls)
            t0 = time.perf_counter()
            ids = [submit_generation(version, inputs(n)).pk for n in range(options.jobs)]
            wait_all_done(ids)
            seconds = time.perf_counter() - t0
            cpu = tree_cpu_seconds(proc.pid) - cpu0
            backends = backend_cpu_seconds() - backends0
            sessions1, xacts1 = database_counters()
    finally:
        fake.stop()
    n = options.jobs
    assert len(fake.calls) - calls0 == n, (len(fake.calls) - calls0, n)
    print(
        f"pool {options.pool} x{options.concurrency}: {n} jobs in {seconds:.2f} s = {n / seconds:.0f} jobs/s "
        f"(submitting included); worker CPU {cpu / n * 1000:.1f} ms/job; the worker's PostgreSQL backends "
        f"{backends / n * 1000:.1f} ms/job (long-lived ones only); "
        f"PostgreSQL sessions {(sessions1 - sessions0) / n:.2f}/job (the bench's own included), "
        f"transactions {(xacts1 - xacts0) / n:.1f}/job (submits included)"
    )


if __name__ == "__main__":
    main()
