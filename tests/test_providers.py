"""The real provider code paths: the official SDKs in a real worker process,
talking to a local server that speaks each provider's wire protocol."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.test import Client

from accounts.models import PersonalToken, User
from jobs.models import Job, JobStatus
from jobs.tasks import sweep_stuck_jobs
from providers.models import ModelPrice, ProviderConnection
from templates_app.models import Template, Visibility

from .conftest import DEFAULT_REPLY, SIMPLE_SCHEMA, wait_until
from .fakes.llm_server import count_words, cut_after, error, per_chunk_delay, slow_first_token, split_reply

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = {"anthropic": "claude-test-1", "openai": "gpt-test-1"}


def provider_template(provider: str, *, slug: str | None = None) -> Template:
    template = Template.objects.create(
        slug=slug or f"{provider}-haiku", name=f"{provider} haiku", visibility=Visibility.PUBLIC
    )
    template.create_version(
        system_prompt="You are terse.",
        body="Write {{ count }} lines about {{ topic }}.",
        parameters=SIMPLE_SCHEMA,
        provider=provider,
        model=MODELS.get(provider, "local-model"),
    )
    return template


def run(client: Client, template: Template, topic: str = "autumn") -> Job:
    response = client.post(template.get_absolute_url(), {"topic": topic, "count": "2"})
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])
    return wait_until(
        lambda: Job.objects.filter(pk=job.pk, status__in=["succeeded", "failed", "cancelled"]).first()
    )


@pytest.fixture
def priced() -> None:
    ModelPrice.objects.update_or_create(
        provider="anthropic", model="claude-test-1",
        defaults={"input_per_million": Decimal("3"), "output_per_million": Decimal("15")},
    )  # fmt: skip
    ModelPrice.objects.update_or_create(
        provider="openai", model="gpt-test-1",
        defaults={"input_per_million": Decimal("2"), "output_per_million": Decimal("8")},
    )  # fmt: skip


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_text_usage_and_cost_arrive_through_the_sdk(
    client: Client, llm, worker, priced, provider: str
) -> None:
    job = run(client, provider_template(provider))
    assert job.status == JobStatus.SUCCEEDED, job.error_text
    assert job.output == DEFAULT_REPLY
    words = "You are terse. Write 2 lines about autumn."
    assert job.input_tokens == len(words.split())
    assert job.output_tokens == len(split_reply(DEFAULT_REPLY))
    rates = {"anthropic": (3, 15), "openai": (2, 8)}[provider]
    expected = (Decimal(job.input_tokens * rates[0] + job.output_tokens * rates[1]) / 1_000_000).quantize(
        Decimal("0.000001")
    )
    assert job.cost == expected
    assert job.first_token_at is not None and job.attempts == 1
    call = llm.calls[-1]
    assert call["body"]["stream"] is True and call["body"]["model"] == MODELS[provider]
    if provider == "anthropic":
        assert call["path"] == "/v1/messages" and call["body"]["system"] == "You are terse."
        assert call["headers"]["authorization"] == "Bearer test-anthropic-key"
    else:
        assert call["path"] == "/v1/chat/completions"
        assert call["body"]["stream_options"] == {"include_usage": True}
        assert call["body"]["messages"][0] == {"role": "system", "content": "You are terse."}


def test_a_model_without_a_price_costs_unknown_not_zero(client: Client, llm, worker) -> None:
    job = run(client, provider_template("anthropic"))
    assert job.status == JobStatus.SUCCEEDED
    assert job.cost is None
    assert "unknown" in client.get(job.get_absolute_url()).content.decode()


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_nul_character_in_the_models_output_is_kept_as_a_replacement_character(
    client: Client, llm, worker, provider: str
) -> None:
    # PostgreSQL text can't hold NUL: saving the output would fail the job.
    llm.reset(reply="before\x00after the nul")
    job = run(client, provider_template(provider))
    assert job.status == JobStatus.SUCCEEDED, job.error_text
    assert job.output == "before\ufffdafter the nul"


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_429_is_retried_after_retry_after(client: Client, llm, worker, provider: str) -> None:
    llm.script(error(429, retry_after=1))
    job = run(client, provider_template(provider))
    assert job.status == JobStatus.SUCCEEDED and job.output == DEFAULT_REPLY
    assert job.attempts == 2 and llm.call_count == 2
    assert job.attempt_log[0]["code"] == "rate_limited"
    assert job.attempt_log[0]["retry_in"] >= 1


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_500_three_times_fails_after_three_attempts(client: Client, llm, worker, provider: str) -> None:
    llm.script(error(500), error(500), error(500))
    job = run(client, provider_template(provider))
    assert job.status == JobStatus.FAILED and job.error_code == "provider_error"
    assert job.attempts == 3 and llm.call_count == 3
    assert [entry["code"] for entry in job.attempt_log] == ["provider_error", "provider_error"]
    page = client.get(job.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    assert "O provedor teve um erro interno" in page


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_401_fails_at_once_with_a_clear_message(client: Client, llm, worker, provider: str) -> None:
    llm.script(error(401))
    job = run(client, provider_template(provider))
    assert job.status == JobStatus.FAILED and job.error_code == "authentication_failed"
    assert job.attempts == 1 and llm.call_count == 1
    assert "refused PromptLab's API key" in job.error_text


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_slow_first_token_within_the_timeout_succeeds(client: Client, llm, worker, provider: str) -> None:
    llm.script(slow_first_token(1.0))
    job = run(client, provider_template(provider))
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 1
    assert job.time_to_first_token >= 1.0


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_first_token_past_the_read_timeout_is_retried(client: Client, llm, worker, provider: str) -> None:
    llm.script(slow_first_token(3.0))  # the worker's read timeout is 2 s
    job = run(client, provider_template(provider))
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    assert job.attempt_log[0]["code"] == "timeout"


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_stream_broken_midway_is_retried_without_duplicated_text(
    client: Client, llm, worker, provider: str
) -> None:
    llm.script(cut_after(4))
    job = run(client, provider_template(provider))
    assert job.status == JobStatus.SUCCEEDED, job.error_text
    assert job.output == DEFAULT_REPLY  # not the first four words twice
    assert job.attempts == 2 and job.attempt_log[0]["code"] == "stream_interrupted"


def test_named_openai_compatible_connection(client: Client, llm, worker, monkeypatch) -> None:
    ProviderConnection.objects.create(name="local-llm", base_url=llm.openai_base_url, api_key_env="")
    job = run(client, provider_template("local-llm"))
    assert job.status == JobStatus.SUCCEEDED and job.output == DEFAULT_REPLY
    assert llm.calls[-1]["body"]["max_tokens"] == 1024  # compatible servers get max_tokens


def test_cancelling_a_running_job_stops_the_stream_and_keeps_tokens(client: Client, llm, worker) -> None:
    llm.script(per_chunk_delay(0.2))
    template = provider_template("anthropic")
    client.post(template.get_absolute_url(), {"topic": "slow", "count": "2"})
    job = Job.objects.get()
    wait_until(lambda: Job.objects.filter(pk=job.pk).exclude(output="").exists())
    client.post(f"/jobs/{job.pk}/cancel/")
    job = wait_until(lambda: Job.objects.filter(pk=job.pk, input_tokens__isnull=False).first())
    assert job.status == JobStatus.CANCELLED
    assert 0 < len(job.output) < len(DEFAULT_REPLY)
    # Anthropic reports the input tokens at the start: what was spent is recorded.
    body = llm.calls[-1]["body"]
    assert job.input_tokens == count_words(body["messages"]) + count_words(body["system"])
    assert job.output_tokens is not None


def _pool_process_calling(worker, client_port: int) -> int:  # type: ignore[no-untyped-def]
    """The worker's pool process whose connection (from ``client_port``) made the provider call."""
    children = subprocess.run(["pgrep", "-P", str(worker.process.pid)], capture_output=True, text=True)
    for pid in children.stdout.split():
        sockets = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    sockets.add(target[8:-1])
        for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local_port, inode = int(fields[1].split(":")[1], 16), fields[9]
            if local_port == client_port and inode in sockets:
                return int(pid)
    raise AssertionError("no pool process is calling the provider")


def test_worker_killed_mid_job_still_ends_succeeded_once(client: Client, llm, worker) -> None:
    """On Redis the dead worker's message is redelivered (acks_late). kombu's filesystem
    broker (the embedded default) drops it: there the job's lease runs out (the test
    worker's lease is 2 s) and the sweep, which beat runs, re-queues it."""
    llm.script(per_chunk_delay(0.1))
    template = provider_template("anthropic")
    client.post(template.get_absolute_url(), {"topic": "kill", "count": "2"})
    job = Job.objects.get()
    wait_until(lambda: Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).exclude(output="").exists())
    # Only the process running the job: on the embedded broker's pool (shared
    # queue) the idle sibling holds the queue's lock, and killing it would
    # deadlock the pool itself, not just lose a job.
    os.kill(_pool_process_calling(worker, llm.calls[-1]["client_port"]), signal.SIGKILL)

    def swept_until_finished() -> Job | None:
        sweep_stuck_jobs()
        return Job.objects.filter(pk=job.pk, status__in=["succeeded", "failed"]).first()

    job = wait_until(swept_until_finished, timeout=60, interval=0.5)
    assert job.status == JobStatus.SUCCEEDED, job.error_text
    assert job.output == DEFAULT_REPLY
    assert job.attempts == 2 and llm.call_count == 2
    assert Job.objects.count() == 1


def test_fifty_identical_submissions_make_one_provider_call(llm, worker, live_server_url) -> None:
    llm.script(per_chunk_delay(0.05))
    user = User.objects.create_user("many@example.com", "correct horse battery")
    _token, raw = PersonalToken.issue(user, "load")
    provider_template("anthropic", slug="shared")
    headers = {"Authorization": f"Bearer {raw}"}

    def submit(_: int) -> str:
        response = httpx.post(
            f"{live_server_url}/api/v1/templates/shared/generate",
            json={"inputs": {"topic": "the same", "count": 2}},
            headers=headers,
            timeout=30,
        )
        assert response.status_code in (200, 202), response.text
        return response.json()["id"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        ids = list(pool.map(submit, range(50)))
    assert len(set(ids)) == 50
    jobs = wait_until(
        lambda: (
            list(Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED))
            if Job.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == 50
            else None
        ),
        timeout=30,
    )
    assert {job.output for job in jobs} == {DEFAULT_REPLY}
    assert llm.call_count == 1
    assert sum(1 for job in jobs if job.leader_id is None and job.cached_from_id is None) == 1
