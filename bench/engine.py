"""Generation engine figures: jobs/s through Celery with a zero-latency provider, and
provider calls saved by the result cache and coalescing.

Usage: DATABASE_URL=… REDIS_URL=… python bench/engine.py
"""

from __future__ import annotations

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


def wait_all_done(ids: list, timeout: float = 300) -> float:  # type: ignore[type-arg]
    from jobs.models import Job

    started = time.perf_counter()
    while Job.objects.filter(pk__in=ids, status__in=["queued", "running"]).exists():
        if time.perf_counter() - started > timeout:
            raise RuntimeError("jobs did not finish")
        time.sleep(0.02)
    return time.perf_counter() - started


def main() -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env(), check=True, capture_output=True)
    import django

    django.setup()
    from jobs.models import Job
    from jobs.services import submit_generation
    from templates_app.models import Template

    template = Template.objects.get(slug="meeting-summary")
    version = template.published_version
    run_id = random.randrange(10**9)

    def inputs(notes: str) -> dict[str, object]:
        return {"notes": notes * 3, "max_bullets": 5, "audience": "the team", "include_action_items": True}

    worker = [
        str(BIN / "celery"), "-A", "promptlab", "worker", "--queues", "generation,celery",
        "--concurrency", "2", "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
    ]  # fmt: skip
    with process(worker, OFFLINE_PROVIDER_DELAY="0"):
        warm = [submit_generation(version, inputs(f"warm-up {run_id} {n} ")).pk for n in range(10)]
        wait_all_done(warm)

        n_jobs = 300
        t0 = time.perf_counter()
        ids = [submit_generation(version, inputs(f"distinct {run_id} {n} ")).pk for n in range(n_jobs)]
        enqueue_seconds = time.perf_counter() - t0
        total = enqueue_seconds + wait_all_done(ids)
        print(f"throughput: {n_jobs} distinct jobs in {total:.2f} s = {n_jobs / total:.0f} jobs/s "
              f"(enqueueing alone {n_jobs / enqueue_seconds:.0f}/s)")  # fmt: skip

        rng = random.Random(7)
        draws = [rng.randrange(100) for _ in range(1000)]
        ids = [submit_generation(version, inputs(f"shared {run_id} {d} ")).pk for d in draws]
        wait_all_done(ids)
        jobs = Job.objects.filter(pk__in=ids)
        calls = jobs.filter(leader__isnull=True, cached_from__isnull=True).count()
        cached = jobs.filter(cached_from__isnull=False).count()
        followed = jobs.filter(leader__isnull=False).count()
        print(
            f"1,000 submissions of 100 distinct inputs: {calls} provider calls ({cached} answered "
            f"from cache, {followed} coalesced) = {calls / 1000:.2f}x the calls without dedupe"
        )


if __name__ == "__main__":
    main()
