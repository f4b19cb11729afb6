"""PostgreSQL's share of a complete run: each statement's calls, planning and execution
time per run (pg_stat_statements), WAL and buffers per run, and the CPU of PostgreSQL
(postmaster and backends) and of the other processes, at 8 clients.

Usage: python bench/pg_statements.py [--root DIR] [--runs 240]

Starts a PostgreSQL cluster and a redis-server of its own (pg_stat_statements loaded,
planning tracked), then the checkout's stack as bench/runs.py does (its Procfile,
2 web and 2 worker processes, the zero-latency fake provider). The statistics are
reset after a warm-up, so they hold the measured runs alone. Run it on two
checkouts (``--root``) in turn to compare them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import runs  # noqa: E402
from bench.common import ROOT, private_servers  # noqa: E402

SETTINGS = {"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track_planning": "on"}
OWN_DB = "dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"


def psql(database_url: str, sql: str) -> list[list[str]]:
    out = subprocess.run(
        ["psql", database_url, "-qtAF", "\t", "-c", sql], capture_output=True, text=True, check=True
    ).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def report(database_url: str, phase: runs.Phase) -> None:
    n = len(phase.ok)
    print(f"{n}/{len(phase.runs)} runs ok, {n / phase.seconds:.1f}/s")
    print("CPU per run (ms): " + ", ".join(f"{name} {ms:.2f}" for name, ms in phase.cpu.items()))
    rows = psql(
        database_url,
        "SELECT calls, total_plan_time, total_exec_time, regexp_replace(query, '\\s+', ' ', 'g')"
        f" FROM pg_stat_statements WHERE {OWN_DB} ORDER BY total_plan_time + total_exec_time DESC",
    )
    print(f"{'calls/run':>9} {'plan µs':>8} {'exec µs':>8}  statement")
    for calls, plan, execute, query in rows:
        if int(calls) >= n / 20:
            per_run = int(calls) / n, float(plan) / n * 1000, float(execute) / n * 1000
            print(f"{per_run[0]:9.2f} {per_run[1]:8.1f} {per_run[2]:8.1f}  {query[:150]}")
    calls, plan, execute, wal_records, wal_bytes, blocks = psql(
        database_url,
        "SELECT sum(calls), sum(total_plan_time), sum(total_exec_time), sum(wal_records), sum(wal_bytes),"
        f" sum(shared_blks_hit + shared_blks_read) FROM pg_stat_statements WHERE {OWN_DB}",
    )[0]
    print(
        f"per run: {int(calls) / n:.1f} statements, planning {float(plan) / n * 1000:.0f} µs, executing"
        f" {float(execute) / n * 1000:.0f} µs, {int(wal_records) / n:.1f} WAL records"
        f" ({float(wal_bytes) / n:.0f} bytes), {int(blocks) / n:.0f} buffers touched"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--runs", type=int, default=240)
    args = parser.parse_args()
    with private_servers(postgres_settings=SETTINGS) as (database_url, redis_url):
        psql(database_url, "CREATE EXTENSION pg_stat_statements")
        options = argparse.Namespace(
            root=args.root, database_url=database_url, redis_url=redis_url, flush_redis=False
        )
        fake = runs.FakeProvider()
        try:
            with runs.stack(options, fake.base_url) as target:
                token = runs.shell_json(target.root, target.env, runs.SEED)["token"]
                deadline = time.monotonic() + 60
                while not runs.sequential(target, token, 1, runs.new_inputs).ok:
                    if time.monotonic() > deadline:
                        raise SystemExit("no run completed: see var/bench/runs-*/")
                runs.load(target, token, clients=8, runs=40, inputs=runs.new_inputs)  # warm-up
                psql(database_url, "SELECT pg_stat_statements_reset()")
                report(
                    database_url, runs.load(target, token, clients=8, runs=args.runs, inputs=runs.new_inputs)
                )
        finally:
            fake.stop()


if __name__ == "__main__":
    main()
