"""Submit → real Celery worker process → result, on the configured database and broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis
from django.conf import settings
from django.test import Client

from jobs.models import Job, JobStatus
from jobs.streaming import channel_name
from providers import GenerationRequest
from providers.offline import OfflineProvider, tokenize

from .conftest import DEFAULT_REPLY, wait_until
from .fakes.llm_server import Behaviour

pytestmark = pytest.mark.django_db(transaction=True)


def finished(job_id: object) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.is_terminal else None


def expected_output(job: Job) -> str:
    request = GenerationRequest(
        job.system_prompt, job.prompt, job.model, 0.7, job.template_version.max_tokens
    )
    return OfflineProvider(delay=0).answer(request)


def test_submitted_form_runs_on_the_worker_and_stores_output_and_tokens(
    client: Client, make_template, owner, worker
) -> None:
    client.force_login(owner)
    response = client.post(make_template().get_absolute_url(), {"topic": "autumn", "count": "2"})
    job = Job.objects.get()
    assert response["Location"] == job.get_absolute_url()
    job = wait_until(lambda: finished(job.pk))
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.output == expected_output(job)
    assert job.output_tokens == len(tokenize(job.output))
    assert job.input_tokens == len(tokenize(job.prompt))
    assert job.cost == 0
    assert job.attempts == 1
    assert job.started_at and job.finished_at and job.finished_at >= job.started_at
    page = client.get(job.get_absolute_url()).content.decode()
    assert 'data-job-status="succeeded"' in page


def test_job_cancelled_while_running_stops_and_keeps_what_was_spent(
    client: Client, make_template, owner, worker
) -> None:
    client.force_login(owner)
    long_body = "Write {{ count }} lines about {{ topic }}. " + "Please elaborate. " * 300
    client.post(make_template(body=long_body).get_absolute_url(), {"topic": "autumn", "count": "2"})
    job = Job.objects.get()
    wait_until(lambda: Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).exclude(output="").exists())
    client.post(f"/jobs/{job.pk}/cancel/")
    job = wait_until(lambda: finished(job.pk))
    assert job.status == JobStatus.CANCELLED
    # The worker notices at its next flush, records what it produced, and stops.
    job = wait_until(lambda: Job.objects.filter(pk=job.pk, output_tokens__isnull=False).first())
    assert 0 < len(job.output) < len(expected_output(job))
    # The tokens really spent: the whole prompt in, the tokens streamed out.
    assert job.input_tokens == len(tokenize(job.prompt))
    assert job.output_tokens == len(tokenize(job.output))
    assert job.cost == 0


@pytest.mark.needs_redis
def test_event_stream_sends_the_whole_output_once_then_closes(
    client: Client, make_template, owner, live_server_url
) -> None:
    client.force_login(owner)
    client.post(make_template().get_absolute_url(), {"topic": "sea", "count": "3"})
    job = Job.objects.get()
    events = read_stream(live_server_url, job, client.cookies["sessionid"].value)
    text = "".join(data for name, data, _ in events if name == "chunk")
    job = Job.objects.get(pk=job.pk)
    assert html_unescape(text) == job.output == expected_output(job)
    assert events[-1][:2] == ("done", "succeeded")
    assert 'data-job-status="succeeded"' in [data for name, data, _ in events if name == "status"][-1]


@pytest.mark.needs_redis
def test_reconnecting_with_last_event_id_resumes_without_duplicates(
    client: Client, make_template, owner, live_server_url
) -> None:
    client.force_login(owner)
    client.post(make_template().get_absolute_url(), {"topic": "sea", "count": "3"})
    job = Job.objects.get()
    cookie = client.cookies["sessionid"].value
    first = read_stream(live_server_url, job, cookie, stop_after_chunks=3)
    received = "".join(data for name, data, _ in first if name == "chunk")
    last_id = [event_id for name, _, event_id in first if name == "chunk"][-1]
    rest = read_stream(live_server_url, job, cookie, last_event_id=last_id)
    received += "".join(data for name, data, _ in rest if name == "chunk")
    job = wait_until(lambda: finished(job.pk))
    assert html_unescape(received) == job.output


@pytest.mark.needs_redis
def test_event_stream_is_404_for_another_user(
    client: Client, make_template, owner, other_user, live_server_url
) -> None:
    client.force_login(owner)
    client.post(make_template().get_absolute_url(), {"topic": "sea", "count": "3"})
    job = Job.objects.get()
    client.force_login(other_user)
    response = httpx.get(
        f"{live_server_url}/jobs/{job.pk}/events/", cookies={"sessionid": client.cookies["sessionid"].value}
    )
    assert response.status_code == 404
    assert httpx.get(f"{live_server_url}/jobs/{job.pk}/events/").status_code == 404


@pytest.mark.needs_redis
def test_many_streams_share_one_redis_subscription_and_each_gets_everything_once(
    client: Client, owner, llm, live_server_url
) -> None:
    from .test_providers import provider_template

    # Both jobs stay running until every stream is open (however long that takes on a loaded
    # machine), then stream their chunks.
    streams_open = threading.Event()
    held = Behaviour(hold_until=streams_open, chunk_delay=0.1)
    llm.script(held, held)
    client.force_login(owner)
    template = provider_template("anthropic")
    for topic in ("sea", "snow"):
        client.post(template.get_absolute_url(), {"topic": topic, "count": "2"})
    jobs = list(Job.objects.order_by("created_at"))
    assert len(jobs) == 2
    cookie = client.cookies["sessionid"].value
    per_job = 15
    redis_client = redis.Redis.from_url(settings.REDIS_URL)
    channels = [channel_name(job.pk) for job in jobs]

    async def one_stream(http: httpx.AsyncClient, job: Job, opened: asyncio.Event) -> str:
        text = []
        headers = {"Accept": "text/event-stream"}
        async with http.stream("GET", f"/jobs/{job.pk}/events/", headers=headers) as r:
            assert r.status_code == 200
            name = ""
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name == "chunk":
                    text.append(line[6:])
                elif line.startswith("data: ") and name == "status":
                    opened.set()
                elif line.startswith("data: ") and name == "done":
                    break
        return html_unescape("".join(text))

    async def main() -> tuple[list[str], list[tuple[int, int]], list[dict[str, str]]]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(
            base_url=live_server_url, cookies={"sessionid": cookie}, timeout=60, limits=limits
        ) as http:
            opened = [asyncio.Event() for _ in range(per_job * len(jobs))]
            tasks = [
                asyncio.create_task(one_stream(http, jobs[n % len(jobs)], opened[n]))
                for n in range(per_job * len(jobs))
            ]

            try:
                await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 60)
                # Every stream is open and subscribed while both jobs still run.
                numsub = redis_client.pubsub_numsub(*channels)
                subscribers = _stream_subscribers(redis_client)
            finally:
                streams_open.set()
            texts = await asyncio.gather(*tasks)
        return texts, numsub, subscribers

    # A thread of its own: the browser tests' Playwright keeps an event loop in this one.
    with ThreadPoolExecutor(max_workers=1) as thread:
        texts, numsub, subscribers = thread.submit(asyncio.run, main()).result()
    assert [count for _, count in numsub] == [1, 1]
    assert len(subscribers) == 1 and subscribers[0]["sub"] == "2", subscribers
    for job in jobs:
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED
    expected = [jobs[n % len(jobs)].output for n in range(per_job * len(jobs))]
    assert texts == expected
    assert all(text == DEFAULT_REPLY for text in texts)


def _stream_subscribers(client: redis.Redis) -> list[dict[str, str]]:
    """The shared-subscriber connections (CLIENT LIST entries) of our own stream server."""
    children = subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True).stdout
    names = {f"promptlab-streams-{pid}" for pid in children.split()}
    return [entry for entry in client.client_list() if entry.get("name") in names]


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


def read_stream(
    base_url: str,
    job: Job,
    session_cookie: str,
    *,
    last_event_id: str | None = None,
    stop_after_chunks: int | None = None,
) -> list[tuple[str, str, str | None]]:
    """Read SSE events as (event, data, id) until the server closes or we stop."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    events: list[tuple[str, str, str | None]] = []
    with httpx.stream(
        "GET",
        f"{base_url}/jobs/{job.pk}/events/",
        headers=headers,
        cookies={"sessionid": session_cookie},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name, data, event_id = "message", [], None
        for line in response.iter_lines():
            if line == "":
                if data:
                    events.append((name, "\n".join(data), event_id))
                    chunks = sum(1 for e in events if e[0] == "chunk")
                    if stop_after_chunks and chunks >= stop_after_chunks:
                        break
                name, data, event_id = "message", [], None
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line.startswith("id: "):
                event_id = line[4:]
    return events
