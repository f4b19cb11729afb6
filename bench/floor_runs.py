"""PromptLab's complete runs against the floor of the parts they are built on, in one run.

The floor (bench/floor/) is what a run costs on the mandated stack with none of
PromptLab's own work: a DRF endpoint that stores a row and enqueues a Celery task, a
prefork worker that streams the answer with the OpenAI SDK into a Redis stream and
saves it, an async Django view under uvicorn that relays it as server-sent events. No
authentication, validation, rendering, cache, coalescing, leases, retries, rate limits
or middleware. Both stacks are served the same way (uvicorn ×2, prefork ×2, the same
database settings), each on a PostgreSQL and a Redis of its own, with the same load
client as bench/runs.py and the same zero-latency fake provider, rounds interleaved.

    python bench/floor_runs.py [--rounds 3] [--quick]

What PromptLab adds over the floor is the price of what it does; the floor itself is
what no change inside PromptLab can go below.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bench import runs  # noqa: E402
from bench.common import ROOT, free_port, median, percentile, private_servers  # noqa: E402

FLOOR_WEB = (
    ".venv/bin/uvicorn bench.floor.asgi:application --host 127.0.0.1 --port $PORT --workers 2 --no-access-log"
)
FLOOR_WORKER = (
    ".venv/bin/celery -A bench.floor.tasks worker --loglevel WARNING --concurrency 2"
    " --without-gossip --without-mingle --pool {pool}"
)
FIGURES = [
    ("seq_p50", "complete run, sequential, median", "ms"),
    ("seq_p95", "complete run, sequential, p95", "ms"),
    ("rps_8", "runs/s, 8 clients", "/s"),
    ("rps_32", "runs/s, 32 clients", "/s"),
    ("cpu_total_8", "CPU per run, server total, 8 clients", "ms"),
    ("cpu_web_8", "  web", "ms"),
    ("cpu_worker_8", "  worker", "ms"),
    ("cpu_redis_8", "  redis-server", "ms"),
    ("cpu_postgres_8", "  PostgreSQL", "ms"),
    ("ttft_added_p50", "first token added over direct, median", "ms"),
    ("ttft_added_p95", "first token added over direct, p95", "ms"),
]


@contextlib.contextmanager
def floor_stack(database_url: str, redis_url: str, provider_url: str, pool: str) -> Iterator[runs.Stack]:
    port = free_port()
    env = {
        **runs.server_env(ROOT, database_url, redis_url, provider_url, port),
        "DJANGO_SETTINGS_MODULE": "bench.floor.settings",
        "FLOOR_MODEL": runs.MODEL,
        "PYTHONPATH": str(ROOT),
    }
    runs.manage(ROOT, env, "migrate", "--run-syncdb", "--noinput", "-v0")
    logs = ROOT / "var" / "bench" / "floor"
    logs.mkdir(parents=True, exist_ok=True)
    with (
        runs.started(ROOT, env, FLOOR_WORKER.format(pool=pool), logs / "worker.log") as worker,
        runs.started(ROOT, env, FLOOR_WEB, logs / "web.log") as web,
    ):
        base_url = f"http://127.0.0.1:{port}"
        runs._wait_for(f"{base_url}/", web)  # a 404 is an answer
        yield runs.Stack(
            ROOT, env, base_url, database_url, web, worker,
            runs.redis_pid(redis_url, flush=True), runs.postmaster_pid(database_url),
        )  # fmt: skip


def verify_floor(database_url: str, ids: list[str]) -> int:
    """How many of the counted runs are not stored as succeeded with the provider's text."""
    with psycopg.connect(database_url) as conn:
        good = conn.execute(
            "select count(*) from floor_floorrun where id = any(%s) and status = 'succeeded' and output = %s",
            ([int(i) for i in ids], runs.REPLY),
        ).fetchone()[0]
    return len(ids) - good


def measure_floor(quick: bool, pool: str = "prefork") -> dict[str, float]:
    n_seq, n_load, n_pairs = (10, 40, 10) if quick else (50, 400, 50)
    figures: dict[str, float] = {}
    counted: list[str] = []
    errors = 0
    fake = runs.FakeProvider()
    try:
        with (
            private_servers() as (database_url, redis_url),
            floor_stack(database_url, redis_url, fake.base_url, pool) as target,
        ):
            token = "unused"  # the floor authenticates nobody
            deadline = time.monotonic() + 60
            warm = runs.Client(target.base_url, token)
            while not warm.run(runs.new_inputs()).ok:
                if time.monotonic() > deadline:
                    raise RuntimeError("no floor run completed: see var/bench/floor/*.log")
            warm.close()
            runs.sequential(target, token, 10, runs.new_inputs)

            def note(phase: runs.Phase) -> runs.Phase:
                nonlocal errors
                errors += sum(not run.ok for run in phase.runs)
                counted.extend(str(run.job_id) for run in phase.ok)
                return phase

            phase = note(runs.sequential(target, token, n_seq, runs.new_inputs))
            figures["seq_p50"], figures["seq_p95"] = median(phase.latencies), percentile(phase.latencies, 95)
            for clients in (8, 32):
                runs.load(target, token, clients=clients, runs=2 * clients, inputs=runs.new_inputs)
                phase = note(runs.load(target, token, clients=clients, runs=n_load, inputs=runs.new_inputs))
                figures[f"rps_{clients}"] = len(phase.ok) / phase.seconds
                for name, value in phase.cpu.items():
                    figures[f"cpu_{name}_{clients}"] = value
                figures[f"cpu_total_{clients}"] = sum(phase.cpu.values())
            _direct, added = runs.first_token_pairs(target, token, fake, n_pairs)
            errors += n_pairs - len(added)
            figures["ttft_added_p50"], figures["ttft_added_p95"] = median(added), percentile(added, 95)
            errors += verify_floor(database_url, counted)
    finally:
        fake.stop()
    figures["errors"] = errors
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description="PromptLab's runs against the floor of its parts.")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument("--floor-only", action="store_true", help="measure the floor alone")
    parser.add_argument(
        "--pool", default="prefork", help="the floor worker's Celery pool (PromptLab's is prefork)"
    )
    args = parser.parse_args()
    promptlab_args = argparse.Namespace(
        root=ROOT, quick=args.quick, private_servers=True, flush_redis=True, verbose=False,
        database_url="", redis_url="",
    )  # fmt: skip
    floor, promptlab = [], []
    for _ in range(args.rounds):
        floor.append(measure_floor(args.quick, args.pool))
        if not args.floor_only:
            promptlab.append(runs.measure(promptlab_args))

    def mid(rounds: list[dict[str, float]], key: str) -> float | None:
        values = [r[key] for r in rounds if r.get(key) is not None]
        return median(values) if values else None

    print(f"median of {args.rounds} round(s), interleaved; each stack on servers of its own")
    print(f"{'measure':44} {'floor':>8} {'PromptLab':>10} {'added':>8}")
    for key, label, unit in [*FIGURES, ("errors", "errors", "")]:
        f, p = mid(floor, key), mid(promptlab, key)
        added = f"{p - f:8.1f}" if f is not None and p is not None else f"{'':8}"
        show = runs.format_value
        print(f"{label:44} {show(f):>8} {show(p):>10} {added} {unit}")


if __name__ == "__main__":
    main()
