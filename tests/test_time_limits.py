"""A job's time limit is the worker's setting, not the one of the process that enqueued it.

Celery copies the sender's task time limits into each message, and a worker obeys
the message over its own settings; the web process's JOB_SOFT_TIME_LIMIT would
decide how long a job may run.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.test import Client

from jobs.models import Job, JobStatus
from jobs.tasks import run_job

from .conftest import DEFAULT_REPLY, wait_until
from .fakes.llm_server import per_chunk_delay, split_reply
from .test_circuit import provider_template, submit


@pytest.fixture
def web_time_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process (the "web") configured with a 1 s soft, 2 s hard limit: what
    JOB_SOFT_TIME_LIMIT=1 gives the task here. The test worker keeps its 300 s."""
    monkeypatch.setattr(run_job, "soft_time_limit", 1)
    monkeypatch.setattr(run_job, "time_limit", 2)


def test_an_enqueued_job_carries_no_time_limit_of_the_sender(web_time_limits: None) -> None:
    published: list[dict[str, Any]] = []

    def record(sender: str, headers: dict[str, Any], **kwargs: Any) -> None:
        if sender == run_job.name:
            published.append(headers)

    before_task_publish.connect(record, weak=False)
    try:
        run_job.delay(str(uuid.uuid4()))  # no such job: a worker that gets it returns at once
        run_job.apply_async(args=[str(uuid.uuid4())], countdown=0.1)
    finally:
        before_task_publish.disconnect(record)
    assert [tuple(headers["timelimit"]) for headers in published] == [(None, None), (None, None)]


@pytest.mark.django_db(transaction=True)
def test_a_job_runs_past_the_web_processes_limit_within_the_workers(
    client: Client, llm, worker, web_time_limits: None
) -> None:
    chunks = len(split_reply(DEFAULT_REPLY))
    llm.script(per_chunk_delay(2.5 / chunks), provider="anthropic")  # a 2.5 s stream
    job = submit(client, provider_template("anthropic"), "slow")
    job = wait_until(
        lambda: Job.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first(), timeout=30
    )
    assert job.status == JobStatus.SUCCEEDED, job.error_code
    assert job.output == DEFAULT_REPLY
