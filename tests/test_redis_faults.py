"""Redis faults: a restart mid-stream, and an outage of a few seconds with jobs
queued and running. Each test runs its own Redis (and a worker and a web server
pointed at it), so stopping it never touches the shared one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accounts.models import PersonalToken
from jobs.models import Job, JobStatus

from .conftest import ServiceProcess, start_worker, wait_until
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


def read_api_stream(client: httpx.Client, job_id: object) -> list[tuple[str, str]]:
    """Every (event, data) of the job's API event stream, until ``done``."""
    events: list[tuple[str, str]] = []
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        name, data = "", []
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
            elif line == "" and name:
                events.append((name, "\n".join(data)))
                if name == "done":
                    return events
                name, data = "", []
    raise AssertionError(f"the stream ended before done: {events[-5:]}")


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
    received = "".join(json.loads(data)["text"] for name, data in events if name == "chunk")
    job = Job.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error_text
    assert re.findall(r"w\d\d", received) == WORDS
    assert received == job.output
