"""Submit → real Celery worker process → result, on the configured database and broker."""

from __future__ import annotations

import httpx
import pytest
from django.test import Client

from jobs.models import Job, JobStatus
from jobs.providers import GenerationRequest
from jobs.providers.offline import OfflineProvider, tokenize

from .conftest import wait_until

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
