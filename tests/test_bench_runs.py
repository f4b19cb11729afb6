"""bench/runs.py's accounting: what it reads from /proc and from a checkout's Procfile."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.common import cpu_ms, percentile, process_tree
from bench.runs import procfile

ROOT = Path(__file__).resolve().parent.parent
BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")


def _until(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_live_child_is_in_its_parents_tree_and_its_cpu_is_counted() -> None:
    child = subprocess.Popen([sys.executable, "-c", BURN + "\ninput()"], stdin=subprocess.PIPE, text=True)
    try:
        assert child.pid in process_tree(os.getpid())
        # It burns 0.3 s of CPU, then waits for input.
        assert _until(lambda: cpu_ms([child.pid]) >= 250)
    finally:
        child.communicate("\n")


def test_an_exited_child_moves_into_its_parents_cutime_once_reaped() -> None:
    # The bench sums live processes' own and children's times: a worker that exited
    # during a phase must still count, in its parent's, and only once.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {BURN!r}])\ninput()",
        ],
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        assert _until(lambda: process_tree(parent.pid) == [parent.pid] and cpu_ms([parent.pid]) >= 250)
        assert 250 <= cpu_ms(process_tree(parent.pid)) < 2000
    finally:
        parent.communicate("\n")


def test_percentiles_of_a_few_values_stay_within_them() -> None:
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert 3.0 < percentile([1.0, 2.0, 3.0, 4.0], 99) <= 4.0


def test_the_procfile_names_the_web_and_worker_commands_the_bench_starts() -> None:
    commands = procfile(ROOT)
    assert "uvicorn" in commands["web"] and "$PORT" in commands["web"]
    assert "celery" in commands["worker"] and "$WORKER_CONCURRENCY" in commands["worker"]
