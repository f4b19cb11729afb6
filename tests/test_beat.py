"""Celery beat runs as its own process, and only one sends at a time.

The processes are started with the Procfile's own command lines (what `make run`
starts), on the configured setup: the lock is in Redis when REDIS_URL is set, an
fcntl file lock otherwise.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import string
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.utils import timezone

from jobs.models import Job
from jobs.services import submit_generation
from jobs.tasks import sweep_stuck_jobs
from promptlab.beat import REDIS_LOCK_KEY, RedisBeatLock
from templates_app.models import Template

from .conftest import BASE_DIR, HAS_REDIS, ServiceProcess, _service_env, wait_until

LOCK_SECONDS = 1.5
SWEEP = "Sending due task sweep-stuck-jobs"


def procfile_command(name: str, **variables: str) -> list[str]:
    lines = (BASE_DIR / "Procfile").read_text().splitlines()
    line = next(line for line in lines if line.startswith(f"{name}:"))
    words = [string.Template(word).substitute(variables) for word in shlex.split(line.split(":", 1)[1])]
    assert words[0] == ".venv/bin/celery"
    return [sys.executable, "-m", "celery", *words[1:]]


@pytest.fixture
def beats(service_log_dir: Path) -> Iterator[Callable[[], ServiceProcess]]:
    """Start beats as the Procfile does, sweeping every 0.3 s, with a short lock."""
    if HAS_REDIS:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).delete(REDIS_LOCK_KEY)  # one a crashed run left
    started: list[ServiceProcess] = []
    env = _service_env(JOB_SWEEP_INTERVAL="0.3", BEAT_LOCK_SECONDS=str(LOCK_SECONDS))

    def start() -> ServiceProcess:
        process = ServiceProcess(f"beat-{len(started) + 1}", procfile_command("beat"), env, service_log_dir)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def sweeps_sent(beat: ServiceProcess) -> int:
    return beat.log().count(SWEEP)


def test_a_second_beat_sends_nothing_while_one_runs_and_takes_over_when_it_dies(
    beats: Callable[[], ServiceProcess],
) -> None:
    first = beats()
    first.wait_for(lambda: sweeps_sent(first) >= 1)
    second = beats()
    second.wait_for(lambda: "stands by" in second.log())
    sent = sweeps_sent(first)
    first.wait_for(lambda: sweeps_sent(first) >= sent + 3)  # the first kept sending meanwhile
    assert sweeps_sent(second) == 0
    first.stop(signal.SIGKILL)
    # The lock is freed at once (file) or expires (Redis), and the second beat takes over.
    second.wait_for(lambda: sweeps_sent(second) >= 1, timeout=LOCK_SECONDS + 15)
    assert "holds the lock and sends the schedule" in second.log()


def _processes_in_session(session: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        state, session_id = fields[0], int(fields[3])
        if session_id == session and state != "Z":
            found.append(int(entry.name))
    return found


def test_killing_the_worker_leaves_no_scheduler_behind(service_log_dir: Path, django_db_setup: None) -> None:
    worker = ServiceProcess(
        "procfile-worker", procfile_command("worker", WORKER_CONCURRENCY="1"), _service_env(), service_log_dir
    )
    session = worker.process.pid  # started in a session (and process group) of its own
    try:
        worker.wait_for(lambda: " ready." in worker.log())
        assert len(_processes_in_session(session)) >= 2  # the main process and its pool
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
        # An embedded beat would live on, re-parented to PID 1, and keep sending.
        wait_until(lambda: not _processes_in_session(session), timeout=15, interval=0.1)
    finally:
        worker.stop(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(session, signal.SIGKILL)  # whatever outlived it


def test_docker_compose_runs_beat_as_a_service_of_its_own() -> None:
    services = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]
    assert "--beat" not in services["worker"]["command"].split()
    assert shlex.split(services["beat"]["command"])[:4] == ["celery", "-A", "promptlab", "beat"]


@pytest.mark.django_db
def test_a_second_sweep_after_the_first_sends_nothing_again(
    make_template: Callable[..., Template], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were two beats ever to send the sweep, the second would find nothing left to do."""
    sent: list[str] = []
    monkeypatch.setattr("jobs.tasks.run_job.delay", lambda job_id: sent.append(job_id))
    monkeypatch.setattr("jobs.tasks.run_job.apply_async", lambda args, countdown: sent.append(args[0]))
    job = submit_generation(
        make_template().published_version, {"topic": "sweep", "count": 2}, session_key="s1"
    )
    job.claim("task-1")
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert sweep_stuck_jobs() == 1
    assert sweep_stuck_jobs() == 0
    assert sent == [str(job.id)]  # one message for the job, not one per sweep


def test_beat_gives_up_its_lock_in_seconds_when_redis_accepts_but_never_answers() -> None:
    # A listening socket nobody reads: the kernel completes the connection, no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        lock = RedisBeatLock(f"redis://127.0.0.1:{port}/0", ttl=30)
        started = time.monotonic()
        assert lock.hold() is False  # sends nothing meanwhile
        assert time.monotonic() - started < 5
