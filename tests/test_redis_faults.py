"""Redis faults: a restart mid-stream, and an outage of a few seconds with jobs
queued and running. Each test runs its own Redis (and a worker and a web server
pointed at it), so stopping it never touches the shared one."""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from accounts.models import PersonalToken
from jobs.models import TERMINAL_STATUSES, Job, JobStatus

from .conftest import ServiceProcess, _service_env, start_worker, wait_until
from .own_services import OwnRedis, start_web

pytestmark = [pytest.mark.needs_redis, pytest.mark.django_db(transaction=True)]

WORDS = [f"w{i:02d}" for i in range(40)]
# The offline provider quotes the prompt: its answer carries the forty words in order.
WORDS_BODY = "{% for i in range(40) %}w{{ '%02d' % i }} {% endfor %}"


@pytest.fixture
def own_redis(service_log_dir: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(service_log_dir)
    yield server
    server.stop()


@pytest.fixture
def services_on_own_redis(
    own_redis: OwnRedis, service_log_dir: Path, django_db_setup: None
) -> Iterator[tuple[ServiceProcess, str]]:
    """A worker (with the sweep run often) and a web server, both on the test's own Redis."""
    on_own_redis = {"REDIS_URL": own_redis.url, "CELERY_BROKER_URL": own_redis.url}
    worker = start_worker(
        service_log_dir,
        name=f"worker-redis-{own_redis.port}",
        TEST_OFFLINE_DELAY="0.04",
        **on_own_redis,
    )
    web, url = start_web(service_log_dir, f"web-redis-{own_redis.port}", **on_own_redis)
    yield worker, url
    web.stop()
    worker.stop()


def api_client(url: str, owner) -> httpx.Client:  # type: ignore[no-untyped-def]
    owner.plan = "enterprise"  # many requests a minute: these tests are not about rate limits
    owner.save()
    _token, raw = PersonalToken.issue(owner, "script")
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {raw}"}, timeout=30)


def read_api_stream(
    client: httpx.Client,
    job_id: object,
    *,
    last_event_id: str | None = None,
    on_chunk: Callable[[str], None] | None = None,
) -> list[tuple[str, str, str | None]]:
    """Every (event, data, id) of the job's API event stream, until ``done`` or its end."""
    events: list[tuple[str, str, str | None]] = []
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200
        name, data, event_id = "", [], None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("id: "):
                event_id = line[len("id: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
            elif line == "" and name:
                events.append((name, "\n".join(data), event_id))
                if name == "done":
                    return events
                if name == "chunk" and on_chunk is not None:
                    on_chunk(chunk_text(events))
                name, data, event_id = "", [], None
    return events


def chunk_text(events: list[tuple[str, str, str | None]]) -> str:
    return "".join(json.loads(data)["text"] for name, data, _id in events if name == "chunk")


def test_stream_opened_after_a_redis_restart_mid_job_sends_every_word_once_in_order(
    make_template, owner, own_redis: OwnRedis, services_on_own_redis
) -> None:
    _worker, url = services_on_own_redis
    template = make_template(slug="words", parameters=[], body=WORDS_BODY)
    with api_client(url, owner) as client:
        response = client.post(f"/api/v1/templates/{template.slug}/generate", json={"inputs": {}})
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        # A sub-second restart while the words stream: Redis comes back empty.
        wait_until(lambda: "w10" in Job.objects.get(pk=job_id).output, timeout=30)
        own_redis.restart()
        wait_until(lambda: "w20" in Job.objects.get(pk=job_id).output, timeout=30)
        events = read_api_stream(client, job_id)
    assert events[-1][0] == "done"
    received = chunk_text(events)
    job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error_text
    assert re.findall(r"w\d\d", received) == WORDS
    assert received == job.output


def test_stream_open_through_a_redis_restart_resumes_with_every_word_once_in_order(
    make_template, owner, own_redis: OwnRedis, services_on_own_redis
) -> None:
    _worker, url = services_on_own_redis
    template = make_template(slug="words", parameters=[], body=WORDS_BODY)
    restarted = False

    def restart_once_past_w10(received: str) -> None:
        nonlocal restarted
        if not restarted and "w10" in received:
            restarted = True
            own_redis.restart()

    with api_client(url, owner) as client:
        response = client.post(f"/api/v1/templates/{template.slug}/generate", json={"inputs": {}})
        job_id = response.json()["id"]
        # The stream ends when the restart drops its subscription; the client
        # reconnects with Last-Event-ID, as EventSource does.
        first = read_api_stream(client, job_id, on_chunk=restart_once_past_w10)
        assert restarted and first[-1][0] != "done"
        last_id = [event_id for name, _data, event_id in first if name == "chunk"][-1]
        rest = read_api_stream(client, job_id, last_event_id=last_id)
    assert rest[-1][0] == "done"
    received = chunk_text(first) + chunk_text(rest)
    job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error_text
    assert re.findall(r"w\d\d", received) == WORDS
    assert received == job.output


def start_beat(log_dir: Path, name: str, **env: str) -> ServiceProcess:
    """Celery beat on its own, sending the sweep as `make run` does."""
    beat = ServiceProcess(
        name,
        [
            sys.executable, "-m", "celery", "-A", "promptlab", "beat", "--loglevel", "INFO",
            "--schedule", str(log_dir / f"{name}-schedule"),
        ],
        _service_env(**env),
        log_dir,
    )  # fmt: skip
    beat.wait_for(lambda: "beat: Starting" in beat.log())
    return beat


def csrf_token(response: httpx.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text)
    assert match, response.text[:500]
    return match.group(1)


def site_and_api_requests(
    url: str, api: httpx.Client, template_url: str, topic: str
) -> list[tuple[str, int]]:
    """What visitors do meanwhile: pages, a form post, a sign-in, API reads and a submission."""
    answers: list[tuple[str, int]] = []
    with httpx.Client(base_url=url, timeout=15) as browser:
        for page in ("/", template_url, "/accounts/login/"):
            answers.append((f"GET {page}", browser.get(page).status_code))
        form = browser.get(template_url)
        if form.status_code == 200:
            posted = browser.post(
                template_url, data={"topic": topic, "count": "2", "csrfmiddlewaretoken": csrf_token(form)}
            )
            answers.append(("POST form", posted.status_code))
        login = browser.get("/accounts/login/")
        if login.status_code == 200:
            signed_in = browser.post(
                "/accounts/login/",
                data={
                    "username": "owner@example.com",
                    "password": "correct horse battery",
                    "csrfmiddlewaretoken": csrf_token(login),
                },
            )
            answers.append(("POST login", signed_in.status_code))
    answers.append(("GET api jobs", api.get("/api/v1/jobs").status_code))
    answers.append(("GET api me", api.get("/api/v1/auth/me").status_code))
    inputs = {"topic": f"api {topic}", "count": 2}
    generated = api.post("/api/v1/templates/haiku/generate", json={"inputs": inputs})
    answers.append(("POST api generate", generated.status_code))
    return answers


def test_redis_outage_of_a_few_seconds_loses_no_job_and_answers_no_500(
    make_template, owner, own_redis: OwnRedis, service_log_dir: Path
) -> None:
    # Short queue deadlines and sweeps, so a job whose message the outage lost is
    # sent again within seconds here (the defaults: within a minute).
    env = {
        "REDIS_URL": own_redis.url,
        "CELERY_BROKER_URL": own_redis.url,
        "JOB_QUEUE_STALE_AFTER": "2",
        "JOB_SWEEP_INTERVAL": "0.5",
    }
    name = f"outage-{own_redis.port}"
    processes = [start_worker(service_log_dir, name=f"worker-{name}", TEST_OFFLINE_DELAY="0.05", **env)]
    processes.append(start_beat(service_log_dir, f"beat-{name}", **env))
    web, url = start_web(service_log_dir, f"web-{name}", **env)
    processes.append(web)
    template = make_template()
    try:
        with api_client(url, owner) as api:
            for topic in ("one", "two", "three", "four"):
                inputs = {"topic": topic, "count": 2}
                generated = api.post(f"/api/v1/templates/{template.slug}/generate", json={"inputs": inputs})
                assert generated.status_code == 202, generated.text
            # Two run (the worker's concurrency), two wait in the queue.
            wait_until(lambda: Job.objects.filter(status=JobStatus.RUNNING).exclude(output="").count() == 2)
            assert Job.objects.filter(status=JobStatus.QUEUED).count() == 2
            own_redis.stop()
            during = site_and_api_requests(url, api, template.get_absolute_url(), "during")
            own_redis.start()  # empty: the broker's queue and the live outputs are gone
            after = site_and_api_requests(url, api, template.get_absolute_url(), "after")
            jobs = wait_until(
                lambda: (
                    list(Job.objects.all())
                    if not Job.objects.exclude(status__in=TERMINAL_STATUSES).exists()
                    else None
                ),
                timeout=60,
            )
    finally:
        for process in processes:
            process.stop()
    # Without Redis only the sign-in refuses (503: its attempt counters live there);
    # everything else works on the database.
    assert [answer for answer in during if answer[1] >= 500] == [("POST login", 503)]
    assert [answer for answer in after if answer[1] >= 400] == []
    assert {job.status for job in jobs} == {JobStatus.SUCCEEDED}, [(j.status, j.error_code) for j in jobs]
    # The four from before, the form post and the API submission during and after.
    assert len(jobs) == 8


@pytest.fixture
def slow_services_on_own_redis(
    own_redis: OwnRedis, service_log_dir: Path, django_db_setup: None
) -> Iterator[str]:
    """As ``services_on_own_redis``, with words slow enough to open several streams mid-job."""
    on_own_redis = {"REDIS_URL": own_redis.url, "CELERY_BROKER_URL": own_redis.url}
    worker = start_worker(
        service_log_dir, name=f"worker-slow-{own_redis.port}", TEST_OFFLINE_DELAY="0.25", **on_own_redis
    )
    web, url = start_web(service_log_dir, f"web-slow-{own_redis.port}", **on_own_redis)
    yield url
    web.stop()
    worker.stop()


def stream_subscribers(redis_client: redis.Redis) -> list[dict[str, str]]:
    """The web server's shared-subscriber connections (the Redis is the test's own)."""
    return [c for c in redis_client.client_list() if c.get("name", "").startswith("promptlab-streams-")]


def test_a_dropped_subscriber_connection_ends_every_stream_and_each_resumes_with_every_word_once(
    make_template, owner, own_redis: OwnRedis, slow_services_on_own_redis: str
) -> None:
    url = slow_services_on_own_redis
    redis_client = redis.Redis.from_url(own_redis.url)
    templates = [make_template(slug=slug, parameters=[], body=WORDS_BODY) for slug in ("words", "more-words")]
    with api_client(url, owner) as client:
        job_ids = []
        for template in templates:
            response = client.post(f"/api/v1/templates/{template.slug}/generate", json={"inputs": {}})
            assert response.status_code == 202, response.text
            job_ids.append(response.json()["id"])
        # Two streams on the first job, one on the second: three listeners, two channels.
        streamed = [job_ids[0], job_ids[0], job_ids[1]]
        past_w05 = [threading.Event() for _ in streamed]

        def first_stream(n: int) -> list[tuple[str, str, str | None]]:
            return read_api_stream(
                client, streamed[n], on_chunk=lambda text: "w05" in text and past_w05[n].set()
            )

        with ThreadPoolExecutor(max_workers=len(streamed)) as pool:
            firsts = [pool.submit(first_stream, n) for n in range(len(streamed))]
            wait_until(lambda: all(event.is_set() for event in past_w05), timeout=30)
            subscribers = stream_subscribers(redis_client)
            # One subscription connection for the whole process, fanned out to every stream.
            assert len(subscribers) == 1 and subscribers[0]["sub"] == "2", subscribers
            redis_client.client_kill_filter(_id=subscribers[0]["id"])
            first = [future.result(timeout=30) for future in firsts]
        # The drop ended every stream before its job was done.
        assert all(events[-1][0] != "done" for events in first), [events[-1] for events in first]
        assert all(Job.objects.get(pk=job_id).status not in TERMINAL_STATUSES for job_id in job_ids)
        rest = []
        for job_id, events in zip(streamed, first, strict=True):
            last_id = [event_id for name, _data, event_id in events if name == "chunk"][-1]
            rest.append(read_api_stream(client, job_id, last_event_id=last_id))
    assert [events[-1][0] for events in rest] == ["done"] * len(streamed)
    for job_id, events, more in zip(streamed, first, rest, strict=True):
        received = chunk_text(events) + chunk_text(more)
        job = Job.objects.get(pk=job_id)
        assert job.status == JobStatus.SUCCEEDED, job.error_text
        assert re.findall(r"w\d\d", received) == WORDS
        assert received == job.output
    # A new subscription connection replaced the one dropped.
    assert [c["id"] for c in stream_subscribers(redis_client)] != [subscribers[0]["id"]]
