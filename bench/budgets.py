"""What a budget costs a run: submissions with and without a budget, in the same run.

Two templates in two team workspaces, one with a workspace budget and a member budget
(both limiting tokens and cost, at a priced model), one with none. In rounds, in turn,
each round N runs of one then N of the other, every run on new inputs (no cache hit):

1. the submission alone: ``submit_generation`` (render, hash, job insert, and with the
   budget the conditional UPDATEs of both periods and the reservation rows);
2. a whole run's bookkeeping: the submission, the worker's claim, and its
   ``mark_succeeded`` (with the budget: the settlement of both reservations).

The broker is left out (the job's hand-over to the workers is replaced by nothing): it
costs both the same, and no worker runs here. Medians per run, and the ratio with/without.

    DATABASE_URL=postgres://… .venv/bin/python bench/budgets.py

Uses a database of its own (BENCH_BUDGETS_DB, default promptlab_budgets_bench on the
PostgreSQL of DATABASE_URL), migrated and emptied of the bench's rows at the start.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
BASE = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres").rsplit("/", 1)[0]
DB = os.environ.get("BENCH_BUDGETS_DB", "promptlab_budgets_bench")
os.environ["DATABASE_URL"] = f"{BASE}/{DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptlab.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
os.environ["RATELIMIT_ENABLE"] = "0"
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("OPENAI_API_KEY", "benchmark-key")  # the provider counts as configured; never called

ROUNDS = int(os.environ.get("BENCH_BUDGETS_ROUNDS", "8"))
PER_ROUND = int(os.environ.get("BENCH_BUDGETS_PER_ROUND", "50"))
MODEL = ("openai", "gpt-bench-budgets")


def _create_database() -> None:
    import psycopg

    with psycopg.connect(f"{BASE}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB}"')


_create_database()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

import jobs.services  # noqa: E402
from accounts.models import User  # noqa: E402
from budgets.models import Budget, Period  # noqa: E402
from jobs.models import Job  # noqa: E402
from jobs.services import submit_generation  # noqa: E402
from providers.models import ModelPrice  # noqa: E402
from templates_app.models import Template, Visibility  # noqa: E402
from workspaces.models import Workspace  # noqa: E402
from workspaces.services import create_team_workspace  # noqa: E402


def _setup() -> tuple[User, Template, Template]:
    call_command("migrate", verbosity=0)
    Job.objects.filter(template_version__template__slug__startswith="bench-budget").delete()
    Template.all_objects.filter(slug__startswith="bench-budget").delete()
    Workspace.objects.filter(slug__startswith="bench-budget").delete()
    User.objects.filter(email="budgets-bench@example.com").delete()
    user = User.objects.create_user("budgets-bench@example.com", "benchmark passphrase")
    ModelPrice.objects.update_or_create(
        provider=MODEL[0], model=MODEL[1], defaults={"input_per_million": 1, "output_per_million": 2}
    )
    templates = []
    for name in ("bench-budget-with", "bench-budget-without"):
        workspace = create_team_workspace(user, name, slug=name)
        template = Template.objects.create(
            slug=name, name=name, owner=user, visibility=Visibility.PRIVATE, workspace=workspace
        )
        template.create_version(
            body="Write a line about {{ topic }}.",
            parameters=[{"name": "topic", "type": "string", "label": "Topic", "max_length": 50}],
            provider=MODEL[0],
            model=MODEL[1],
            max_tokens=100,
        )
        templates.append(template)
    with_budget = templates[0].workspace
    big = {"token_limit": 10**12, "cost_limit": Decimal("999999"), "soft_percent": 100}
    Budget.objects.create(workspace=with_budget, **big)
    Budget.objects.create(workspace=with_budget, member=user, **big)
    return user, templates[0], templates[1]


def _runs(user: User, template: Template, tag: str, n: int, *, finish: bool) -> list[float]:
    version = template.published_version
    version.template = template
    times = []
    for i in range(n):
        start = time.perf_counter()
        job = submit_generation(version, {"topic": f"{tag}-{i}"}, owner=user)
        if finish:
            attempt = job.claim("bench")
            job.mark_succeeded(
                attempt, output="ok", input_tokens=8, output_tokens=20, cost=Decimal("0.00005")
            )
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    user, with_budget, without = _setup()
    jobs.services.enqueue_job = lambda job: None  # the broker is no part of what is measured
    figures: dict[str, dict[str, list[float]]] = {}
    for mode, finish in (("submission", False), ("submission + claim + finish", True)):
        _runs(user, with_budget, f"warm-{mode}", 20, finish=finish)
        _runs(user, without, f"warm-{mode}", 20, finish=finish)
        samples: dict[str, list[float]] = {"with": [], "without": []}
        for round_number in range(ROUNDS):
            # In turn, and which goes first alternates, so drift falls on both alike.
            order = [("with", with_budget), ("without", without)]
            for label, template in order if round_number % 2 == 0 else order[::-1]:
                samples[label] += _runs(user, template, f"{mode}-{round_number}", PER_ROUND, finish=finish)
        figures[mode] = samples
    period = Period.objects.filter(
        budget__workspace=with_budget.workspace, budget__member__isnull=True
    ).first()
    print(f"budgets bench: {ROUNDS} rounds × {PER_ROUND} runs each way, PostgreSQL, in process")
    print(f"{'what':34} {'no budget':>10} {'budget':>10} {'ratio':>7} {'added':>9}")
    for mode, samples in figures.items():
        without_ms = statistics.median(samples["without"]) * 1000
        with_ms = statistics.median(samples["with"]) * 1000
        print(
            f"{mode:34} {without_ms:8.2f}ms {with_ms:8.2f}ms {with_ms / without_ms:6.2f}× "
            f"{with_ms - without_ms:+7.2f}ms"
        )
    if period is not None:
        print(
            f"(the workspace's period: {period.spent_tokens} tokens spent, {period.reserved_tokens} reserved)"
        )


if __name__ == "__main__":
    main()
