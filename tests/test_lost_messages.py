"""Queued jobs whose broker message was lost (a broker restart, a broker down at
submission) are sent again by the sweep within a minute, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from jobs.models import TERMINAL_STATUSES, Job, JobStatus
from jobs.services import submit_generation
from jobs.tasks import sweep_stuck_jobs

from .conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

INPUTS = {"topic": "rain", "count": 2}


def lose_its_message(job: Job) -> None:
    """As if the broker lost the job's message: nobody will claim it."""
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_a_queued_job_is_sent_again_within_a_minute_of_its_message_being_due() -> None:
    sweep_interval = settings.CELERY_BEAT_SCHEDULE["sweep-stuck-jobs"]["schedule"]
    assert settings.JOB_QUEUE_STALE_AFTER + sweep_interval <= 60
    assert Job.queue_deadline() <= timezone.now() + timedelta(seconds=settings.JOB_QUEUE_STALE_AFTER)


def test_sweep_sends_a_lost_queued_job_once_even_when_two_sweeps_run(
    make_template, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    monkeypatch.setattr("jobs.tasks.run_job.delay", lambda job_id: sent.append(job_id))
    lost = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    waiting = submit_generation(make_template(slug="other").published_version, INPUTS, session_key="s1")
    assert sent == [str(lost.pk), str(waiting.pk)]  # submitted: each job's message
    lose_its_message(lost)
    assert sweep_stuck_jobs() == 1
    # Another scheduler's sweep at the same moment: the deadline moved, so it sends nothing.
    assert sweep_stuck_jobs() == 0
    assert sent[2:] == [str(lost.pk)]
    lost.refresh_from_db()
    assert lost.status == JobStatus.QUEUED and lost.lease_expires_at > timezone.now()


def test_sweep_leaves_a_job_waiting_for_its_retry_alone(
    make_template, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    monkeypatch.setattr("jobs.tasks.run_job.delay", lambda job_id: sent.append(job_id))
    job = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    attempt = job.claim("task-1")
    assert attempt is not None
    # A long Retry-After: the job waits in the broker, due in ten minutes.
    assert job.requeue_after_failure(attempt, code="rate_limited", message="", retry_in=600)
    assert sweep_stuck_jobs() == 0
    assert sent == [str(job.pk)]


def test_lost_queued_job_is_sent_again_by_the_sweep_and_runs_once(
    make_template, owner, worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as broker:
        broker.setattr("jobs.tasks.run_job.delay", lambda job_id: None)  # the message is lost
        job = submit_generation(make_template().published_version, INPUTS, owner=owner)
    lose_its_message(job)
    assert sweep_stuck_jobs() == 1  # now through the real broker to the real worker
    assert sweep_stuck_jobs() == 0
    job = wait_until(lambda: Job.objects.filter(pk=job.pk, status__in=TERMINAL_STATUSES).first())
    assert job.status == JobStatus.SUCCEEDED, job.error_text
    assert job.attempts == 1 and job.output
