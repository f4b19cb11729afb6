"""The generation engine's rules, without a worker: dedupe, coalescing, hand-over,
retries' timing, the sweep, prices and provider availability."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from celery.exceptions import Retry
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

from jobs.models import Job, JobStatus
from jobs.services import SubmissionError, cancel_job, submit_generation
from jobs.streaming import JobPublisher
from jobs.tasks import _defer, _handle_provider_error, retry_delay, run_job, sweep_stuck_jobs
from providers import ProviderError
from providers.circuit import Admission, breaker_for
from providers.models import ModelPrice, price_of

# Transactional: the queue is handed jobs on commit.
pytestmark = pytest.mark.django_db(transaction=True)

INPUTS = {"topic": "rain", "count": 2}


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Capture what would go to the broker, so no worker runs these jobs."""
    sent: list[str] = []
    monkeypatch.setattr("jobs.tasks.run_job.delay", lambda job_id: sent.append(job_id))
    monkeypatch.setattr("jobs.tasks.run_job.apply_async", lambda args, countdown: sent.append(args[0]))
    return sent


def finish(job: Job, output: str = "done") -> None:
    attempt = job.claim("task-1")
    assert attempt is not None
    assert job.mark_succeeded(attempt, output=output, input_tokens=3, output_tokens=1, cost=Decimal("0"))


def test_identical_submission_after_success_is_answered_from_it(make_template, enqueued) -> None:
    version = make_template().published_version
    first = submit_generation(version, INPUTS, session_key="s1")
    finish(first, "the answer")
    second = submit_generation(version, dict(reversed(INPUTS.items())), session_key="s2")
    assert second.status == JobStatus.SUCCEEDED
    assert second.cached_from == first and second.output == "the answer"
    assert second.cost == 0 and second.output_tokens == 0
    assert enqueued == [str(first.id)]  # no second provider call


def test_cached_results_expire(make_template, enqueued, settings) -> None:
    version = make_template().published_version
    first = submit_generation(version, INPUTS, session_key="s1")
    finish(first)
    Job.objects.filter(pk=first.pk).update(
        finished_at=timezone.now() - timedelta(seconds=settings.JOB_CACHE_TTL + 1)
    )
    second = submit_generation(version, INPUTS, session_key="s2")
    assert second.cached_from is None and second.status == JobStatus.QUEUED
    assert len(enqueued) == 2


def test_different_inputs_are_not_shared(make_template, enqueued) -> None:
    version = make_template().published_version
    finish(submit_generation(version, INPUTS, session_key="s1"))
    other = submit_generation(version, {**INPUTS, "count": 3}, session_key="s1")
    assert other.cached_from is None and other.leader is None


def test_identical_submissions_while_running_follow_the_first(make_template, enqueued) -> None:
    version = make_template().published_version
    leader = submit_generation(version, INPUTS, session_key="s1")
    followers = [submit_generation(version, INPUTS, session_key=f"s{n}") for n in range(2, 5)]
    assert all(f.leader == leader for f in followers)
    assert enqueued == [str(leader.id)]
    finish(leader, "shared answer")
    for follower in followers:
        follower.refresh_from_db()
        assert follower.status == JobStatus.SUCCEEDED and follower.output == "shared answer"
        assert follower.cost == 0
    assert leader.active_key is None


def test_a_twin_finishing_while_our_insert_waits_is_answered_from_its_result(
    make_template, enqueued, monkeypatch
) -> None:
    """On PostgreSQL an insert colliding with a running twin's key waits for the twin's
    transaction; when that transaction was the twin finishing, the insert goes through
    although our cache lookup (made before) missed the result. It must not run again."""
    from jobs import services

    version = make_template().published_version
    twin = submit_generation(version, INPUTS, session_key="s1")
    finish(twin, "the answer")
    real_lookup = services._answer_from_cache
    calls: list[int] = []

    def lookup(fields: dict) -> Job | None:
        calls.append(1)
        return None if len(calls) == 1 else real_lookup(fields)  # the first one came too early

    monkeypatch.setattr(services, "_answer_from_cache", lookup)
    job = submit_generation(version, INPUTS, session_key="s2")
    assert job.cached_from == twin and job.output == "the answer"
    assert enqueued == [str(twin.id)]
    assert Job.objects.count() == 2


def test_template_can_opt_out_of_sharing(make_template, enqueued) -> None:
    template = make_template()
    template.cache_results = False
    template.save()
    version = template.published_version
    first = submit_generation(version, INPUTS, session_key="s1")
    finish(first)
    second = submit_generation(version, INPUTS, session_key="s1")
    third = submit_generation(version, INPUTS, session_key="s1")
    assert second.cached_from is None and third.leader is None
    assert len(enqueued) == 3


def test_cancelling_a_leader_hands_its_followers_a_new_one(
    make_template, enqueued, django_capture_on_commit_callbacks
) -> None:
    version = make_template().published_version
    leader = submit_generation(version, INPUTS, session_key="s1")
    a = submit_generation(version, INPUTS, session_key="s2")
    b = submit_generation(version, INPUTS, session_key="s3")
    with django_capture_on_commit_callbacks(execute=True):
        assert cancel_job(leader)
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.leader is None and a.status == JobStatus.QUEUED and a.active_key == leader.input_hash
    assert b.leader == a
    assert enqueued[-1] == str(a.id)


def test_a_follower_cannot_be_claimed_by_a_worker(make_template, enqueued) -> None:
    version = make_template().published_version
    submit_generation(version, INPUTS, session_key="s1")
    follower = submit_generation(version, INPUTS, session_key="s2")
    assert follower.claim("any") is None


def test_attempt_fencing_stops_a_presumed_dead_worker(make_template, enqueued) -> None:
    job = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    first = job.claim("task-1")
    # The same message redelivered while the lease is live does not take it over
    # (the worker may only have lost its broker connection)...
    assert job.claim("task-1") is None
    # ...but once the lease ran out (its worker died) it does.
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    second = job.claim("task-1")
    assert (first, second) == (1, 2)
    assert not job.save_progress(first, "stale text")
    assert not job.mark_succeeded(first, output="stale", input_tokens=1, output_tokens=1, cost=None)
    assert job.save_progress(second, "fresh")
    # Another message for the same job never takes a running job.
    assert job.claim("task-2") is None


def test_sweep_requeues_a_job_whose_worker_vanished(make_template, enqueued, settings) -> None:
    job = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    job.claim("task-1")
    long_ago = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 120)
    Job.objects.filter(pk=job.pk).update(started_at=long_ago)
    assert sweep_stuck_jobs() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert job.attempt_log[-1]["code"] == "worker_lost"
    assert enqueued[-1] == str(job.id)


def test_sweep_requeues_a_job_whose_lease_ran_out_long_before_the_time_limit(make_template, enqueued) -> None:
    dead = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    alive = submit_generation(make_template(slug="other").published_version, INPUTS, session_key="s1")
    dead_attempt, alive_attempt = dead.claim("task-1"), alive.claim("task-2")
    # The worker running `dead` stopped renewing; the other keeps its lease.
    Job.objects.filter(pk=dead.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert alive.renew_lease(alive_attempt)
    assert sweep_stuck_jobs() == 1
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == JobStatus.QUEUED and dead.attempt_log[-1]["code"] == "worker_lost"
    assert alive.status == JobStatus.RUNNING
    assert enqueued[-1] == str(dead.id)
    # The presumed-dead worker, if it was only slow, can no longer write or renew.
    assert not dead.renew_lease(dead_attempt)
    assert not dead.save_progress(dead_attempt, "stale")


def test_a_cancelled_attempts_usage_never_lands_on_a_later_attempt(make_template, enqueued) -> None:
    job = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    first = job.claim("task-1")
    assert job.cancel()
    assert job.record_partial_usage(
        first, output="so far", input_tokens=7, output_tokens=2, cost=Decimal("0")
    )
    job.refresh_from_db()
    assert (job.output, job.input_tokens, job.output_tokens) == ("so far", 7, 2)
    assert not job.record_partial_usage(first + 1, output="other", input_tokens=1, output_tokens=1, cost=None)


def test_sweep_fails_a_vanished_job_out_of_attempts(make_template, enqueued, settings) -> None:
    job = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    for _attempt in range(settings.JOB_MAX_ATTEMPTS):
        # Each time its worker died: the lease ran out and the message came back.
        Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        assert job.claim("task-1")
    Job.objects.filter(pk=job.pk).update(started_at=timezone.now() - timedelta(days=1))
    sweep_stuck_jobs()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error_code == "worker_lost"


def test_retry_delays_back_off_with_jitter_and_honour_retry_after(settings) -> None:
    settings.JOB_RETRY_DELAYS = (1.0, 3.0, 10.0)
    for attempt, base in ((1, 1.0), (2, 3.0), (3, 10.0)):
        delays = {retry_delay(attempt, None) for _ in range(20)}
        assert all(0.8 * base <= d <= 1.2 * base for d in delays)
        assert len(delays) > 1  # jitter
    assert retry_delay(1, 7.0) == 7.0


def test_cost_is_computed_in_decimal_from_the_price_table() -> None:
    ModelPrice.objects.create(
        provider="anthropic",
        model="test-model",
        input_per_million=Decimal("3"),
        output_per_million=Decimal("15"),
    )
    assert price_of("anthropic", "test-model", 1000, 2000) == Decimal("0.033000")
    assert price_of("anthropic", "unpriced-model", 1000, 2000) is None
    assert price_of("anthropic", "test-model", None, None) is None
    assert price_of("offline", "anything", 10, 10) == Decimal("0")


def test_unconfigured_provider_is_refused_with_a_clear_error(
    make_template, monkeypatch, client: Client
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    template = make_template()
    template.create_version(
        body="{{ topic }} {{ count }}",
        parameters=template.published_version.parameters,
        provider="anthropic",
        model="claude-haiku-4-5",
    )
    with pytest.raises(SubmissionError) as caught:
        submit_generation(template.published_version, INPUTS, session_key="s")
    assert caught.value.code == "provider_unavailable"
    page = client.post(template.get_absolute_url(), {"topic": "x", "count": "2"}).content.decode()
    assert "is not configured here" in page
    assert Job.objects.count() == 0


def test_a_redelivered_message_waits_for_the_lease_of_the_run_it_started(
    make_template, enqueued, monkeypatch
) -> None:
    job = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    assert job.claim("task-1") == 1
    retries: list[dict] = []
    monkeypatch.setattr("jobs.tasks.run_job.apply_async", lambda *args, **options: retries.append(options))
    # The broker hands the message out again while its first worker, only cut
    # off from the broker, still runs the job under a live lease.
    run_job.push_request(id="task-1", retries=0, called_directly=False)
    try:
        with pytest.raises(Retry):
            run_job.run(str(job.id))
    finally:
        run_job.pop_request()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 1)  # not run twice
    # Asked again just after the lease would run out (not dropped: its worker may have died).
    [retry] = retries
    assert retry["task_id"] == "task-1"
    assert 30 < retry["countdown"] <= 31 + 1


def test_giving_up_the_wait_never_fails_a_run_another_message_claimed(
    make_template, enqueued, settings
) -> None:
    job = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    Job.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.JOB_PROVIDER_WAIT_LIMIT)
    )
    read_queued = Job.objects.get(pk=job.pk)  # message A reads the job queued...
    assert Job.objects.get(pk=job.pk).claim("task-b") == 1  # ...message B claims and runs it...
    _defer(
        read_queued, breaker_for(read_queued.provider), Admission(wait=5, reason="open")
    )  # ...and A gives up waiting
    job.refresh_from_db()
    assert (job.status, job.error_code) == (JobStatus.RUNNING, "")
    # Still queued as read, the job does fail.
    other = submit_generation(make_template(slug="other").published_version, INPUTS, session_key="s1")
    Job.objects.filter(pk=other.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.JOB_PROVIDER_WAIT_LIMIT)
    )
    _defer(Job.objects.get(pk=other.pk), breaker_for(other.provider), Admission(wait=5, reason="open"))
    other.refresh_from_db()
    assert (other.status, other.error_code) == (JobStatus.FAILED, "provider_unavailable")


def test_a_waiting_job_is_not_sent_again_by_the_sweep_while_it_waits(
    make_template, enqueued, settings
) -> None:
    settings.JOB_QUEUE_STALE_AFTER = 0  # any queued job past its deadline at once
    job = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    enqueued.clear()
    _defer(Job.objects.get(pk=job.pk), breaker_for(job.provider), Admission(wait=600, reason="open"))
    assert enqueued == [str(job.id)]  # its own message, back in ten minutes
    assert sweep_stuck_jobs() == 0
    assert enqueued == [str(job.id)]


def test_two_messages_deferring_a_job_at_once_send_it_back_once(make_template, enqueued) -> None:
    job = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    enqueued.clear()
    first, duplicate = Job.objects.get(pk=job.pk), Job.objects.get(pk=job.pk)
    _defer(first, breaker_for(first.provider), Admission(wait=60, reason="open"))
    # The duplicate read the row before the first deferred it, and passed the
    # cache's check in the same instant (its mark not yet written).
    cache.delete(breaker_for(job.provider)._key(f"waiting:{job.pk}"))
    _defer(duplicate, breaker_for(duplicate.provider), Admission(wait=60, reason="open"))
    assert enqueued == [str(job.id)]


def test_a_database_blip_when_the_result_is_written_does_not_lose_the_generation(
    make_template, enqueued
) -> None:
    job = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    failures = []

    def drop_the_first_success_write(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if not failures and sql.startswith("UPDATE") and params and JobStatus.SUCCEEDED in params:
            failures.append(sql)
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(drop_the_first_success_write):
        run_job.apply(args=[str(job.id)], task_id="task-1")
    assert failures, "the success write was never attempted"
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)
    assert job.output


def test_a_database_blip_when_a_failed_attempt_is_requeued_leaves_the_job_to_the_sweep(
    make_template, enqueued
) -> None:
    job = submit_generation(make_template().published_version, INPUTS, session_key="s1")
    attempt = job.claim("task-1")

    def refuse_updates(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if sql.startswith("UPDATE"):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    failure = ProviderError("overloaded", code="provider_error", retryable=True)
    with connection.execute_wrapper(refuse_updates):
        _handle_provider_error(job, attempt, failure, [], JobPublisher(job.id, attempt))  # no traceback
    job.refresh_from_db()
    # Still running under its lease: when the lease runs out the sweep requeues it.
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 1)
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert sweep_stuck_jobs() == 1
