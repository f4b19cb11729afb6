"""Workflow engine figures, with one worker of two processes (as the Procfile runs it):

1. Orchestration overhead per step at a zero-latency provider: a 10-step chain (each step
   needs the one before) against the same 10 prompts as single jobs, one after the other,
   in the same run of the script.
2. Wall time of a 20-way fan-out (a ``for_each`` of 20) against the same 20 calls as a
   chain, at a provider that takes a while (the offline provider with a delay per token).

Usage: DATABASE_URL=… REDIS_URL=… python bench/workflows.py
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")

from bench.common import BIN, PYTHON, ROOT, env, process  # noqa: E402

ROUNDS = 5
PARAMETERS = [{"name": "topic", "type": "string", "label": "Topic"}]


def worker_args() -> list[str]:
    return [
        str(BIN / "celery"), "-A", "promptlab", "worker", "--queues", "generation,workflows,celery",
        "--concurrency", "2", "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
    ]  # fmt: skip


def wait_done(ids: list[Any], timeout: float = 300) -> None:
    from jobs.models import Job

    deadline = time.perf_counter() + timeout
    while Job.objects.filter(pk__in=ids, status__in=["queued", "running"]).exists():
        if time.perf_counter() > deadline:
            raise RuntimeError("jobs did not finish")
        time.sleep(0.005)
    failed = Job.objects.filter(pk__in=ids).exclude(status="succeeded").count()
    if failed:
        raise RuntimeError(f"{failed} runs did not succeed")


def timed(submit: Any) -> float:
    started = time.perf_counter()
    wait_done([submit().pk])
    return time.perf_counter() - started


def make(
    slug: str, *, steps: list[dict[str, Any]] | None = None, body: str = "", max_tokens: int = 1024
) -> Any:
    from templates_app.models import Template

    template = Template.objects.create(
        slug=f"{slug}-{random.randrange(10**9)}", name=slug, visibility="public", cache_results=False
    )
    return template.create_version(
        body=body, parameters=PARAMETERS, steps=steps or [], provider="offline", model="offline-echo",
        max_tokens=max_tokens,
    )  # fmt: skip


def chain(n: int) -> list[dict[str, Any]]:
    steps = [{"name": "s0", "body": "Step 0 of a chain about {{ topic }}."}]
    for k in range(1, n):
        # The previous answer's length only: every prompt as short as the single jobs'.
        body = f"Step {k} of a chain about {{{{ topic }}}} ({{{{ steps.s{k - 1}.output | length }}}})."
        steps.append({"name": f"s{k}", "needs": [f"s{k - 1}"], "body": body})
    return steps


def overhead(run_id: int) -> None:
    from jobs.services import submit_generation

    flow = make("bench-chain", steps=chain(10))
    single = make("bench-single", body="Step {{ topic }} of a chain.")
    chains, singles = [], []
    for n in range(ROUNDS + 1):  # the first of each warms up
        topic = f"{run_id} {n}"
        chains.append(timed(lambda topic=topic: submit_generation(flow, {"topic": topic})))
        singles.append(
            sum(
                timed(lambda k=k, topic=topic: submit_generation(single, {"topic": f"{k} {topic}"}))
                for k in range(10)
            )
        )
    chain_s, singles_s = statistics.median(chains[1:]), statistics.median(singles[1:])
    print(
        f"10-step chain: {chain_s * 1000:.0f} ms; the same 10 prompts as single jobs one after another: "
        f"{singles_s * 1000:.0f} ms; orchestration overhead {(chain_s - singles_s) * 100:.1f} ms per step "
        f"(medians of {ROUNDS})"
    )


def fan_out(run_id: int) -> None:
    from jobs.services import submit_generation

    each = [
        {
            "name": "each",
            "for_each": "range(20) | list",
            "parallel": 20,
            "body": "Item {{ item }} on {{ topic }}.",
        }
    ]
    fan = make("bench-fan", steps=each, max_tokens=40)
    seq = make("bench-seq", steps=chain(20), max_tokens=40)
    timed(lambda: submit_generation(fan, {"topic": f"{run_id} warm-up"}))  # the worker's start
    fans, seqs = [], []
    for n in range(3):
        topic = f"{run_id} fan {n}"
        fans.append(timed(lambda topic=topic: submit_generation(fan, {"topic": topic})))
        seqs.append(timed(lambda topic=topic: submit_generation(seq, {"topic": topic})))
    fan_s, seq_s = statistics.median(fans), statistics.median(seqs)
    print(
        f"20 calls of 40 tokens at 10 ms a token, 2 worker processes: fan-out {fan_s:.2f} s, "
        f"in sequence {seq_s:.2f} s = {seq_s / fan_s:.2f}x faster (medians of 3)"
    )


def main() -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    import django

    django.setup()
    run_id = random.randrange(10**9)
    with process(worker_args(), OFFLINE_PROVIDER_DELAY="0"):
        overhead(run_id)  # its first round waits for the worker to start
    with process(worker_args(), OFFLINE_PROVIDER_DELAY="0.01", WORKFLOW_MAX_IN_FLIGHT="20"):
        fan_out(run_id)


if __name__ == "__main__":
    main()
