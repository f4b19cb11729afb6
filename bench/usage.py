"""The usage page and GET /api/v1/stats?group_by=day over 30 days, with 10,000 and with
1,000,000 generated jobs in PostgreSQL: the median time of each, and the ratio between the
sizes (the target is under 2×). Beside them, what one aggregate straight over the jobs
costs at each size (the query the rollups replace).

    BENCH_USAGE_SIZES=10000,1000000 .venv/bin/python bench/usage.py

Uses a database of its own (BENCH_USAGE_DB, default promptlab_usage_bench on the
PostgreSQL of DATABASE_URL), which it empties at each size: the jobs are written with COPY,
then the rollups with ``rebuild`` (the same code the backfill migration runs). Requests go
through Django's test client in this process (middleware, auth, rendering; no HTTP server),
as a person who owns a twentieth of the jobs and as staff (everyone's figures).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
BASE = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres").rsplit("/", 1)[0]
DB = os.environ.get("BENCH_USAGE_DB", "promptlab_usage_bench")
os.environ["DATABASE_URL"] = f"{BASE}/{DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptlab.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
os.environ["RATELIMIT_ENABLE"] = "0"
os.environ["ALLOWED_HOSTS"] = "testserver"
os.environ.pop("REDIS_URL", None)  # the page and the API need no Redis; the cache falls back

SIZES = [int(n) for n in os.environ.get("BENCH_USAGE_SIZES", "10000,1000000").split(",")]
REPEATS = int(os.environ.get("BENCH_USAGE_REPEATS", "15"))
PEOPLE, TEMPLATES = 20, 5
MODELS = [("offline", "echo-1"), ("openai", "gpt-4o-mini")]
DAYS = 30


def _create_database() -> None:
    import psycopg

    with psycopg.connect(f"{BASE}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB}"')


_create_database()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402
from django.db.models.functions import TruncDay  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from jobs.models import Job  # noqa: E402
from jobs.rollups import UsageDayRollup, UsageRollup, rebuild  # noqa: E402
from templates_app.models import Template  # noqa: E402

COLUMNS = (
    "id", "template_version_id", "owner_id", "session_key", "inputs", "input_hash", "leader_id",
    "cached_from_id", "system_prompt", "prompt", "provider", "model", "status", "output", "error_code",
    "error_message", "attempts", "attempt_log", "task_id", "input_tokens", "output_tokens", "cost",
    "created_at", "started_at", "first_token_at", "finished_at", "draft_run",
)  # fmt: skip


def setup_people() -> tuple[list[User], list[Any], User]:
    staff = User.objects.filter(email="staff@bench.example").first() or User.objects.create_user(
        "staff@bench.example", "a long passphrase 42", is_staff=True
    )
    people = [
        User.objects.filter(email=f"p{i}@bench.example").first()
        or User.objects.create_user(f"p{i}@bench.example", "a long passphrase 42")
        for i in range(PEOPLE)
    ]
    versions = []
    for i in range(TEMPLATES):
        template = Template.objects.filter(slug=f"bench-{i}").first()
        if template is None:
            template = Template.objects.create(slug=f"bench-{i}", name=f"Bench {i}", owner=people[0])
            template.create_version(body="Hello {{ name }}", parameters=[{"name": "name", "type": "string"}])
        versions.append(template.published_version)
    return people, versions, staff


def generate(size: int, people: list[User], versions: list[Any]) -> float:
    """Write ``size`` finished jobs over the last 30 days with COPY; the seconds it took."""
    rng = random.Random(size)
    now = timezone.now()
    started = time.perf_counter()
    originals: list[uuid.UUID] = []
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE jobs_job, jobs_usagerollup, jobs_usagedayrollup")
        with cursor.connection.cursor().copy(f"COPY jobs_job ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for n in range(size):
                job_id = uuid.uuid4()
                created = now - timedelta(seconds=rng.uniform(0, DAYS * 86400))
                provider, model = MODELS[n % len(MODELS)]
                roll = rng.random()
                status, code, leader, cached = "succeeded", "", None, None
                if roll < 0.08:
                    status, code = "failed", rng.choice(["provider_error", "time_limit", "rate_limited"])
                elif roll < 0.11:
                    status = "cancelled"
                elif roll < 0.21 and originals:
                    cached = rng.choice(originals)
                elif roll < 0.24 and originals:
                    leader = rng.choice(originals)
                ttft = rng.lognormvariate(6, 0.6)  # ms, median ≈ 400
                duration = ttft + rng.lognormvariate(7.5, 0.5)
                own_call = cached is None and leader is None
                start = created + timedelta(milliseconds=50)
                tokens_in, tokens_out = (rng.randint(50, 3000), rng.randint(20, 800)) if own_call else (0, 0)
                cost = f"{(tokens_in * 0.15 + tokens_out * 0.6) / 1e6:.6f}" if model != "echo-1" else None
                copy.write_row((
                    job_id, versions[n % len(versions)].pk, people[n % len(people)].pk, "", "{}", f"h{n}",
                    leader, cached, "", "prompt", provider, model, status, "", code, "", 1, "[]", "",
                    tokens_in, tokens_out, cost if own_call else "0", created,
                    start if not cached else created,
                    start + timedelta(milliseconds=ttft) if own_call else None,
                    start + timedelta(milliseconds=duration) if not cached else created, False,
                ))  # fmt: skip
                if own_call and status == "succeeded" and len(originals) < 5000:
                    originals.append(job_id)
        cursor.execute("ANALYZE jobs_job")
    return time.perf_counter() - started


def median_ms(call: Any) -> float:
    call()  # warm: the first request compiles templates and fills caches
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(people: list[User], staff: User) -> dict[str, float]:
    figures: dict[str, float] = {}
    for who, user in (("person", people[1]), ("staff", staff)):
        client = Client()
        client.force_login(user)

        def page(client: Client = client) -> None:
            assert client.get("/usage/", {"period": "30d"}).status_code == 200

        def api(client: Client = client) -> None:
            assert client.get("/api/v1/stats", {"group_by": "day"}).status_code == 200

        figures[f"page, {who}"] = median_ms(page)
        figures[f"GET /api/v1/stats?group_by=day, {who}"] = median_ms(api)
    since = timezone.now() - timedelta(days=DAYS)

    def over_jobs() -> None:
        list(
            Job.objects.filter(created_at__gte=since, status__in=["succeeded", "failed", "cancelled"])
            .values(day=TruncDay("created_at"))
            .annotate(runs=Count("id"), tokens=Sum("input_tokens"), cost=Sum("cost"))
        )

    figures["one aggregate over the jobs (no rollups), staff"] = median_ms(over_jobs)
    return figures


def main() -> None:
    call_command("migrate", verbosity=0)
    people, versions, staff = setup_people()
    results: dict[int, dict[str, float]] = {}
    for size in SIZES:
        seconds = generate(size, people, versions)
        started = time.perf_counter()
        rows = rebuild(Job, UsageRollup, UsageDayRollup)
        rollup_seconds = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE jobs_usagerollup")
            cursor.execute("ANALYZE jobs_usagedayrollup")
        print(
            f"{size:>9,} jobs: COPY {seconds:.1f} s; rollups {rows:,} rows in {rollup_seconds:.1f} s",
            flush=True,
        )
        results[size] = measure(people, staff)
        for name, value in results[size].items():
            print(f"    {name}: {value:.1f} ms", flush=True)
    if len(SIZES) >= 2:
        small, large = SIZES[0], SIZES[-1]
        print(f"\nmedian ms, {small:,} → {large:,} jobs (ratio):")
        for name in results[small]:
            a, b = results[small][name], results[large][name]
            print(f"    {name}: {a:.1f} → {b:.1f} ({b / a:.2f}×)")


if __name__ == "__main__":
    main()
