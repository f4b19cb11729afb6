"""Provider health: the circuit breaker defers jobs instead of failing them, its
failures expire over a window, a 429 holds back only its provider's model, and one
provider's trouble never touches another's.

The first tests drive the breaker directly on the shared cache, with a clock of
their own; the rest run jobs through the real worker and the fake provider.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from django.test import Client

from jobs.models import Job, JobStatus
from providers import ProviderError, error_for_status
from providers.circuit import ProviderBreaker
from templates_app.models import Template, Visibility

from .conftest import DEFAULT_REPLY, SIMPLE_SCHEMA, WORKER_BREAKER_SETTINGS, wait_until
from .fakes.llm_server import error

WINDOW = WORKER_BREAKER_SETTINGS["PROVIDER_BREAKER_WINDOW"]
RESET = WORKER_BREAKER_SETTINGS["PROVIDER_BREAKER_RESET_TIMEOUT"]
FAIL_MAX = WORKER_BREAKER_SETTINGS["PROVIDER_BREAKER_FAIL_MAX"]

SERVER_ERROR = ProviderError("Internal server error.", code="provider_error", retryable=True)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def rate_limited(retry_after: float | None) -> ProviderError:
    return ProviderError("Slow down.", code="rate_limited", retryable=True, retry_after=retry_after)


# --- The breaker on its own ------------------------------------------------------


@pytest.mark.django_db
def test_failures_spread_over_more_than_the_window_never_open_it(breaker_settings: Any) -> None:
    clock = Clock()
    breaker = ProviderBreaker("anthropic", clock=clock)
    for _ in range(FAIL_MAX * 3):
        breaker.record_error(SERVER_ERROR, "m")
        clock.now += WINDOW / (FAIL_MAX - 1) + 0.01  # never FAIL_MAX within one window
    assert not breaker.is_open()
    assert breaker.admit("m").wait == 0


@pytest.mark.django_db
def test_failures_within_the_window_open_it_and_it_defers_until_the_probe(breaker_settings: Any) -> None:
    clock = Clock()
    breaker = ProviderBreaker("anthropic", clock=clock)
    for _ in range(FAIL_MAX - 1):
        breaker.record_error(SERVER_ERROR, "m")
        clock.now += 0.5
    assert not breaker.is_open()
    breaker.record_error(SERVER_ERROR, "m")
    assert breaker.is_open()
    waiting = breaker.admit("m")
    assert waiting.reason == "open" and RESET - 0.1 < waiting.wait < RESET * 1.2
    # At the probe time exactly one job goes; the others look again soon.
    clock.now += RESET
    probe = breaker.admit("m")
    assert probe.probe and probe.wait == 0
    other = breaker.admit("m")
    assert other.reason == "probing" and 0 < other.wait < RESET
    # The probe fails: open for another period.
    breaker.record_error(SERVER_ERROR, "m")
    assert breaker.admit("m").reason == "open"
    clock.now += RESET
    assert breaker.admit("m").probe
    breaker.answered()  # the probe's first token
    assert not breaker.is_open() and breaker.admit("m").wait == 0
    assert breaker.failure_count() == 0


@pytest.mark.django_db
def test_an_answer_between_failures_starts_the_count_again(breaker_settings: Any) -> None:
    breaker = ProviderBreaker("anthropic", clock=Clock())
    for _ in range(FAIL_MAX - 1):
        breaker.record_error(SERVER_ERROR, "m")
    breaker.answered()
    for _ in range(FAIL_MAX - 1):
        breaker.record_error(SERVER_ERROR, "m")
    assert not breaker.is_open()


@pytest.mark.django_db
def test_a_429_never_trips_it_and_holds_back_only_that_model_for_retry_after(breaker_settings: Any) -> None:
    clock = Clock()
    anthropic, openai = ProviderBreaker("anthropic", clock=clock), ProviderBreaker("openai", clock=clock)
    for _ in range(FAIL_MAX * 2):
        anthropic.record_error(rate_limited(4), "claude-a")
    assert not anthropic.is_open() and anthropic.failure_count() == 0
    held = anthropic.admit("claude-a")
    assert held.reason == "rate_limited" and 4 <= held.wait < 5
    assert anthropic.admit("claude-b").wait == 0  # another model of the same provider
    assert openai.admit("claude-a").wait == 0  # another provider
    clock.now += 4.01
    assert anthropic.admit("claude-a").wait == 0


@pytest.mark.django_db
def test_one_providers_open_breaker_leaves_another_closed(breaker_settings: Any) -> None:
    clock = Clock()
    for _ in range(FAIL_MAX):
        ProviderBreaker("anthropic", clock=clock).record_error(SERVER_ERROR, "m")
    assert ProviderBreaker("anthropic", clock=clock).is_open()
    assert not ProviderBreaker("openai", clock=clock).is_open()
    assert ProviderBreaker("openai", clock=clock).admit("m").wait == 0


@pytest.mark.django_db
def test_permanent_errors_say_the_provider_is_up(breaker_settings: Any) -> None:
    breaker = ProviderBreaker("anthropic", clock=Clock())
    for _ in range(FAIL_MAX - 1):
        breaker.record_error(SERVER_ERROR, "m")
    breaker.record_error(ProviderError("Bad key.", code="authentication_failed", retryable=False), "m")
    breaker.record_error(SERVER_ERROR, "m")
    assert not breaker.is_open()


@pytest.mark.django_db
def test_only_one_message_of_a_waiting_job_is_sent_back(breaker_settings: Any) -> None:
    clock = Clock()
    breaker = ProviderBreaker("anthropic", clock=clock)
    assert breaker.first_to_wait("job-1", 3)
    clock.now += 1
    assert not breaker.first_to_wait("job-1", 3)  # a duplicate: dropped, the first comes back
    assert breaker.first_to_wait("job-2", 3)
    clock.now += 2  # the first message is back, and must wait again
    assert breaker.first_to_wait("job-1", 3)


def test_a_retry_after_given_as_an_http_date_is_honoured() -> None:
    in_half_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 < error_for_status(429, "Slow down.", in_half_a_minute).retry_after <= 30
    assert error_for_status(429, "Slow down.", "Wed, 21 Oct 2015 07:28:00 GMT").retry_after == 0
    assert error_for_status(429, "Slow down.", "soon").retry_after is None  # our own backoff


# --- Jobs through the real worker --------------------------------------------------

MODELS = {"anthropic": "claude-test-1", "openai": "gpt-test-1", "offline": "offline-1"}


def provider_template(provider: str) -> Template:
    template = Template.objects.create(
        slug=f"{provider}-breaker", name=f"{provider} breaker", visibility=Visibility.PUBLIC
    )
    template.create_version(
        body="Write {{ count }} lines about {{ topic }}.",
        parameters=SIMPLE_SCHEMA,
        provider=provider,
        model=MODELS[provider],
    )
    return template


def submit(client: Client, template: Template, topic: str) -> Job:
    response = client.post(template.get_absolute_url(), {"topic": topic, "count": "2"})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Job.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])


def finished(job: Job, timeout: float = 30) -> Job:
    return wait_until(
        lambda: Job.objects.filter(pk=job.pk, status__in=["succeeded", "failed", "cancelled"]).first(),
        timeout=timeout,
    )


@pytest.mark.django_db(transaction=True)
def test_a_429_storm_defers_every_job_and_completes_them_once_the_provider_recovers(
    client: Client, llm, worker, breaker_settings: Any
) -> None:
    storm = 6
    llm.script(*[error(429, retry_after=1)] * storm, provider="anthropic")
    template = provider_template("anthropic")
    jobs = [submit(client, template, f"storm {n}") for n in range(4)]
    done = [finished(job, timeout=60) for job in jobs]
    assert [job.status for job in done] == [JobStatus.SUCCEEDED] * 4, [job.error_code for job in done]
    assert all(job.output == DEFAULT_REPLY for job in done)
    assert llm.call_count == storm + 4
    # More attempts than JOB_MAX_ATTEMPTS, yet none failed: a rate limit is not a failed attempt.
    assert sum(job.attempts for job in done) == storm + 4
    assert all(job.failed_attempts == job.attempts - len(job.attempt_log) for job in done)
    assert all(
        entry["code"] == "rate_limited" and entry["deferred"] for job in done for entry in job.attempt_log
    )
    assert not ProviderBreaker("anthropic").is_open()
    # Each job came back only after the Retry-After second.
    for job in done:
        times = [call["at"] for call in llm.calls if f"about {job.inputs['topic']}." in str(call["body"])]
        assert len(times) == job.attempts
        assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[1:], strict=False))


@pytest.mark.django_db(transaction=True)
def test_an_open_breaker_defers_jobs_while_a_healthy_provider_runs_at_once(
    client: Client, llm, worker, breaker_settings: Any
) -> None:
    llm.script(*[error(503)] * 40, provider="anthropic")
    anthropic = provider_template("anthropic")
    first = [submit(client, anthropic, f"down {n}") for n in range(2)]
    breaker = ProviderBreaker("anthropic")
    wait_until(breaker.is_open, timeout=30)
    deferred = submit(client, anthropic, "while open")
    # The other provider, and the built-in one, are not held back by anthropic's breaker
    # (held back, they would wait for its probe, RESET seconds after it opened).
    healthy = [submit(client, provider_template(provider), "healthy") for provider in ("openai", "offline")]
    for job in healthy:
        job = finished(job, timeout=RESET - 1)
        assert job.status == JobStatus.SUCCEEDED and job.attempts == 1, job.error_text
    # Anthropic's job waits, queued, without calling the provider or spending an attempt.
    job = Job.objects.get(pk=deferred.pk)
    assert job.status == JobStatus.QUEUED and job.attempts == 0
    assert not [call for call in llm.calls if "while open" in str(call["body"])]
    # The provider recovers: the probe after the reset timeout runs the job.
    llm.reset()
    job = finished(deferred, timeout=RESET * 3)
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1 and job.output == DEFAULT_REPLY
    assert not breaker.is_open()
    # The first jobs failed only by running out of their own attempts, never fast.
    for job in first:
        job = finished(job, timeout=RESET * 3)
        assert job.status == JobStatus.SUCCEEDED or job.failed_attempts == 3, (job.status, job.error_code)


@pytest.mark.django_db(transaction=True)
def test_failures_older_than_the_window_do_not_count(
    client: Client, llm, worker, breaker_settings: Any
) -> None:
    # FAIL_MAX - 1 failures, just outside the worker's window.
    past = Clock()
    past.now -= WINDOW + 1
    for _ in range(FAIL_MAX - 1):
        ProviderBreaker("anthropic", clock=past).record_error(SERVER_ERROR, "m")
    llm.script(error(503), provider="anthropic")
    job = finished(submit(client, provider_template("anthropic"), "window"), timeout=RESET / 2)
    # The one fresh failure did not open the breaker: the retry ran at once and succeeded.
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    assert [entry["code"] for entry in job.attempt_log] == ["provider_error"]
    assert not ProviderBreaker("anthropic").is_open()
    # The same failures inside the window open it: the control that makes the above mean something.
    for _ in range(FAIL_MAX - 1):
        ProviderBreaker("anthropic").record_error(SERVER_ERROR, "m")
    assert not ProviderBreaker("anthropic").is_open()
    ProviderBreaker("anthropic").record_error(SERVER_ERROR, "m")
    assert ProviderBreaker("anthropic").is_open()
