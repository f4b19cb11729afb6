"""The workflow engine driven by hand (no worker): resuming a run whose advance was lost,
what lists and usage count, and the stream of step events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from jobs import workflows
from jobs.models import Job, JobStatus, JobStep, StepStatus
from jobs.rollups import UsageRollup
from jobs.streaming import read_workflow_events
from jobs.tasks import sweep_stuck_jobs
from templates_app.models import Template, Visibility

pytestmark = pytest.mark.django_db(transaction=True)

CHAIN = [
    {"name": "first", "body": "FIRST about {{ topic }}."},
    {"name": "second", "needs": ["first"], "body": "SECOND after {{ steps.first.output }}."},
]


@pytest.fixture
def person(db: None) -> User:
    return User.objects.create_user("hand@example.com", "correct horse battery")


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """No message reaches a worker, and no advance runs by itself: the jobs sent and the
    advances asked for are only recorded (the tests advance by hand)."""
    sent: dict[str, list[Any]] = {"jobs": [], "advances": []}
    monkeypatch.setattr(
        "jobs.tasks.run_job.apply_async",
        lambda args=None, kwargs=None, **options: sent["jobs"].append(args[0]),
    )
    monkeypatch.setattr(
        "jobs.workflows.receivers.advance_soon", lambda run_id: sent["advances"].append(run_id)
    )
    return sent


def submitted(person: User, steps: list[dict[str, Any]] = CHAIN) -> Job:
    template = Template.objects.create(slug="chain", name="Chain", visibility=Visibility.PUBLIC)
    template.create_version(
        body="", parameters=[{"name": "topic", "type": "string", "label": "Topic"}], steps=steps
    )
    from jobs.services import submit_generation

    return submit_generation(template.published_version, {"topic": "tea"}, owner=person)


def claimed_and_started(run: Job, task_id: str) -> Job:
    attempt = run.claim(task_id)
    assert attempt is not None
    workflows.start(run, attempt)
    return Job.objects.get(pk=run.pk)


def answer(child: Job, text: str = "done") -> None:
    attempt = child.claim("child-task")
    assert attempt is not None
    assert child.mark_succeeded(attempt, output=text, input_tokens=4, output_tokens=2, cost=None)


def test_a_run_whose_advance_was_lost_is_resumed_by_the_sweep_without_running_a_finished_step(
    person, captured
) -> None:
    run = claimed_and_started(submitted(person), "parent-1")
    (first,) = Job.objects.filter(part_of=run)
    assert first.inputs == {"step": "first", "item": None} and first.queue == "workflows"
    answer(first)
    assert captured["advances"] == [run.pk]  # sent on commit, and lost on its way
    long_ago = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk=run.pk).update(lease_expires_at=long_ago)
    assert sweep_stuck_jobs() == 0  # a step ended within a lease: its advance may still come
    Job.objects.filter(pk=first.pk).update(finished_at=long_ago)
    assert sweep_stuck_jobs() == 1  # no step running, no lease: the run is sent again
    run = claimed_and_started(Job.objects.get(pk=run.pk), "parent-2")
    assert run.attempts == 2
    steps = {row.name: row for row in JobStep.objects.filter(run=run)}
    assert steps["first"].status == StepStatus.SUCCEEDED and steps["first"].job_id == first.pk
    children = Job.objects.filter(part_of=run)
    assert children.count() == 2  # "first" was not made (nor called) again
    second = children.get(inputs__step="second")
    assert "SECOND after done." in second.prompt
    answer(second, "end")
    workflows.advance(run.pk)
    run.refresh_from_db()
    assert (run.status, run.output, run.input_tokens, run.output_tokens) == (JobStatus.SUCCEEDED, "end", 8, 4)
    assert UsageRollup.objects.totals()["runs"] == 1
    workflows.advance(run.pk)  # a late duplicate finds nothing to do
    assert UsageRollup.objects.totals()["runs"] == 1


def test_the_sweep_leaves_a_run_alone_while_a_step_runs(person, captured) -> None:
    run = claimed_and_started(submitted(person), "parent-1")
    (first,) = Job.objects.filter(part_of=run)
    first.claim("child-task")
    Job.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(minutes=5))
    assert sweep_stuck_jobs() == 0
    assert Job.objects.get(pk=run.pk).attempts == 1


def test_lists_and_usage_hold_the_run_and_not_its_steps(client: Client, person, captured) -> None:
    run = claimed_and_started(submitted(person), "parent-1")
    answer(Job.objects.get(part_of=run))
    workflows.advance(run.pk)
    answer(Job.objects.get(part_of=run, inputs__step="second"))
    workflows.advance(run.pk)
    assert Job.objects.get(pk=run.pk).status == JobStatus.SUCCEEDED
    parts = [str(pk) for pk in Job.objects.filter(part_of=run).values_list("pk", flat=True)]
    client.force_login(person)
    page = client.get("/jobs/").content.decode()
    assert str(run.pk) in page and not any(pk in page for pk in parts)
    listed = [job["id"] for job in client.get("/api/v1/jobs").json()["results"]]
    assert listed == [str(run.pk)]
    # A step's own page is still its owner's.
    assert client.get(f"/jobs/{parts[0]}/").status_code == 200
    totals = UsageRollup.objects.totals()
    assert (totals["runs"], totals["input_tokens"], totals["output_tokens"]) == (1, 8, 4)


def test_cancelling_a_run_cancels_its_queued_steps_and_retry_makes_them_again(person, captured) -> None:
    from jobs.services import cancel_job

    run = claimed_and_started(submitted(person), "parent-1")
    (first,) = Job.objects.filter(part_of=run)
    assert cancel_job(Job.objects.get(pk=run.pk))
    first.refresh_from_db()
    assert first.status == JobStatus.CANCELLED
    assert set(JobStep.objects.filter(run=run).values_list("status", flat=True)) == {StepStatus.CANCELLED}
    assert not workflows.retry(first)  # a step is no run
    assert workflows.retry(Job.objects.get(pk=run.pk))
    assert Job.objects.get(pk=run.pk).status == JobStatus.QUEUED
    assert str(run.pk) in captured["jobs"]
    run = claimed_and_started(Job.objects.get(pk=run.pk), "parent-2")
    assert Job.objects.filter(part_of=run, status=JobStatus.QUEUED).count() == 1


@pytest.mark.needs_redis
def test_the_stream_of_a_run_holds_its_step_events_and_resumes_after_an_id(person, captured) -> None:
    run = claimed_and_started(submitted(person), "parent-1")
    answer(Job.objects.get(part_of=run))
    workflows.advance(run.pk)
    events = read_workflow_events(run.pk)
    kinds = [(event["type"], event.get("step"), event.get("status")) for _id, event in events]
    assert kinds[0] == ("run", None, "running")
    assert ("step", "first", "running") in kinds and ("step", "first", "succeeded") in kinds
    assert kinds[-1] == ("step", "second", "running")
    step = next(
        event for _id, event in events if event.get("step") == "first" and event["status"] == "succeeded"
    )
    assert step["input_tokens"] == 4 and step["item"] is None and step["job"]
    after = read_workflow_events(run.pk, events[1][0])
    assert after == events[2:]
    assert read_workflow_events(run.pk, events[-1][0], block_ms=10) == []


def test_a_cancelled_run_keeps_what_its_finished_steps_spent(person, captured) -> None:
    from jobs.services import cancel_job

    run = claimed_and_started(submitted(person), "parent-1")
    answer(Job.objects.get(part_of=run))
    workflows.advance(run.pk)
    assert cancel_job(Job.objects.get(pk=run.pk))
    run.refresh_from_db()
    assert (run.status, run.input_tokens, run.output_tokens) == (JobStatus.CANCELLED, 4, 2)
    totals = UsageRollup.objects.totals()
    assert (totals["runs"], totals["cancelled"], totals["input_tokens"]) == (1, 1, 4)
    assert Job.objects.get(part_of=run, inputs__step="second").status == JobStatus.CANCELLED
