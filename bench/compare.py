"""bench/runs.py against an older commit and this checkout, interleaved, in one table.

    .venv/bin/python bench/compare.py --base c87a9fe [--rounds 3] [--quick]

Checks the old commit out as a git worktree under var/bench/base-<rev> (with this
checkout's venv, its translations compiled and static files collected as `make setup`
does), gives each side a database and a Redis database of its own, then runs runs.py
for each side in turn, ``--rounds`` times, the order swapped every round so that a
burst of load from elsewhere on the machine falls on both. Prints the median of the
rounds for each side and new/base.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, median  # noqa: E402
from bench.runs import FIGURES, format_value, servers_note  # noqa: E402

POSTGRES = "postgres://postgres@127.0.0.1:5432"


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def base_checkout(rev: str) -> Path:
    """A worktree of rev, set up to run as `make setup` leaves a checkout (npm aside)."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    path = ROOT / "var" / "bench" / f"base-{commit[:7]}"
    if not path.exists():
        git("worktree", "add", "--detach", str(path), commit)
    elif git("rev-parse", "HEAD", cwd=path) != commit:
        raise SystemExit(f"{path} is not at {commit[:7]}: remove it (git worktree remove) and try again")
    venv = path / ".venv"
    if not venv.exists():
        venv.symlink_to((ROOT / ".venv").resolve())
    return path


def setup(root: Path) -> None:
    # As the Makefile's `setup`: DEBUG=1 because these commands need no server settings.
    python = str(root / ".venv" / "bin" / "python")
    env = {"PATH": f"{root / '.venv' / 'bin'}:/usr/bin:/bin", "DEBUG": "1", "HOME": str(Path.home())}
    for command in (
        ["compilemessages", "--ignore=.venv", "--ignore=node_modules", "-v0"],
        ["collectstatic", "--noinput", "-v0"],
    ):
        subprocess.run([python, "manage.py", *command], cwd=root, env=env, check=True, capture_output=True)


# The start of a script a side runs in its own checkout (``in_checkout``): Django set up,
# ``median_ms(call, requests)``, the median milliseconds of ``requests`` calls after a
# warm-up, and ``timed``, the same of requests each answered 200. Kept as text: it runs
# under the old commit's code.
TIMED_PRELUDE = r"""
import json, statistics, sys, time
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()

def median_ms(call, requests):
    for _ in range(20):
        call()
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000

def answered(call):
    def checked():
        response = call()
        assert response.status_code == 200, response.status_code
    return checked

def timed(call, requests):
    return median_ms(answered(call), requests)
"""


def in_checkout(root: Path, script: str, *args: str, database_url: str, redis_url: str) -> dict[str, Any]:
    """Run ``script`` with ``root``'s code and venv, settings from the environment (no rate
    limits, no metrics, the test client's host); its last line of output, as JSON."""
    environment = {
        "PATH": f"{root / '.venv' / 'bin'}:/usr/bin:/bin",
        "HOME": str(Path.home()),
        "DJANGO_SETTINGS_MODULE": "promptlab.settings",
        "SECRET_KEY": "benchmark-only-secret",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RATELIMIT_ENABLE": "0",
        "METRICS_ENABLED": "0",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "testserver",
    }
    python = str(root / ".venv" / "bin" / "python")
    done = subprocess.run(
        [python, "-c", script, *args], cwd=root, env=environment, check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(results: dict[str, list[dict[str, float]]], base_root: Path, rounds: int) -> None:
    """Each figure's median over the rounds, base and new, and new/base."""
    base_rev = git("rev-parse", "--short", "HEAD", cwd=base_root)
    print(f"base {base_rev}, new {git('rev-parse', '--short', 'HEAD')}: median of {rounds} rounds")
    print(f"{'':34} {'base':>8} {'new':>8} {'new/base':>9}")
    for figure in results["base"][0]:
        base = median([row[figure] for row in results["base"]])
        new = median([row[figure] for row in results["new"]])
        print(f"{figure:34} {base:8.2f} {new:8.2f} {new / base:9.2f}")


def ensure_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    exists = subprocess.run(
        ["psql", admin, "-tAc", f"select 1 from pg_database where datname = '{name}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    if not exists:
        subprocess.run(["psql", admin, "-qc", f'create database "{name}"'], check=True)


def measure(root: Path, database_url: str, redis_url: str, options: list[str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [
            sys.executable, str(ROOT / "bench" / "runs.py"), "--root", str(root),
            "--database-url", database_url, "--redis-url", redis_url, "--flush-redis", "--json", out.name,
        ]  # fmt: skip
        subprocess.run(command + options, check=True, stdout=subprocess.DEVNULL)
        return json.loads(Path(out.name).read_text())[0]


def main() -> None:
    parser = argparse.ArgumentParser(description="runs.py on an old commit and on this checkout.")
    parser.add_argument("--base", required=True, help="the commit to compare against, e.g. c87a9fe")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="runs.py --quick: a smoke run")
    parser.add_argument("--base-database-url", default=f"{POSTGRES}/promptlab_bench_base")
    parser.add_argument("--new-database-url", default=f"{POSTGRES}/promptlab_bench_new")
    parser.add_argument("--base-redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--new-redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument(
        "--private-servers",
        action="store_true",
        help="runs.py --private-servers: a PostgreSQL and a Redis of each run's own, instead of the URLs",
    )
    parser.add_argument("--json", type=Path, help="write every round's figures here")
    args = parser.parse_args()

    sides = {
        "base": (base_checkout(args.base), args.base_database_url, args.base_redis_url),
        "new": (ROOT, args.new_database_url, args.new_redis_url),
    }
    options = [
        flag for flag, on in (("--quick", args.quick), ("--private-servers", args.private_servers)) if on
    ]
    for root, database_url, _redis in sides.values():
        setup(root)
        if not args.private_servers:
            ensure_database(database_url)
    results: dict[str, list[dict[str, Any]]] = {"base": [], "new": []}
    for number in range(args.rounds):
        order = ("base", "new") if number % 2 == 0 else ("new", "base")
        for side in order:
            print(f"round {number + 1}/{args.rounds}: {side}", file=sys.stderr, flush=True)
            results[side].append(measure(*sides[side], options))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))

    base_rev = git("rev-parse", "--short", "HEAD", cwd=sides["base"][0])
    new_rev = git("rev-parse", "--short", "HEAD") + ("+changes" if git("status", "--porcelain") else "")
    print(f"base {base_rev}, new {new_rev}: median of {args.rounds} round(s), interleaved")
    print(servers_note(args.private_servers))
    print(f"{'measure':52} {'base':>8} {'new':>8} {'new/base':>9}")
    for key, label, unit in FIGURES:
        values = {side: [r[key] for r in rounds if r[key] is not None] for side, rounds in results.items()}
        base, new = (median(v) if v else None for v in (values["base"], values["new"]))
        ratio = f"{new / base:.2f}x" if base and new is not None else ""
        name = f"{label} ({unit})" if unit else label
        print(f"{name:52} {format_value(base):>8} {format_value(new):>8} {ratio:>9}")


if __name__ == "__main__":
    main()
