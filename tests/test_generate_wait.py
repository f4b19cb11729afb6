"""POST templates/{slug}/generate with "wait": one request that answers with the finished
job (200) when it ends in time, else the usual 202; on Redis's pub/sub, or polling in
the embedded mode."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import PersonalToken, User
from jobs import waiting
from jobs.models import Job, JobStatus
from templates_app.models import Template, Visibility

from .conftest import SIMPLE_SCHEMA

API = "/api/v1"
NOTES = {"notes": "Ana: ship on Friday. Bo: tests first, then the release notes."}


def post(client: Client, path: str, body: Any, raw: str | None = None, **headers: str) -> Any:
    if raw is not None:
        headers["Authorization"] = f"Bearer {raw}"
    return client.post(
        f"{API}{path}", data=json.dumps(body), content_type="application/json", headers=headers
    )


@pytest.fixture
def private_template(owner: User) -> Template:
    template = Template.objects.create(slug="mine", name="Mine", owner=owner, visibility=Visibility.PRIVATE)
    template.create_version(body="Write {{ count }} lines about {{ topic }}.", parameters=SIMPLE_SCHEMA)
    return template


@pytest.mark.django_db(transaction=True)
def test_a_job_that_ends_within_the_wait_is_answered_finished_in_one_request(live_server_url: str) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    owner = User.objects.create_user("waiter@example.com", "a long passphrase 42")
    _token, raw = PersonalToken.issue(owner, "script")
    response = httpx.post(
        f"{live_server_url}{API}/templates/meeting-summary/generate",
        json={"inputs": NOTES, "wait": 30},
        headers={"Authorization": f"Bearer {raw}"},
        timeout=40,
    )
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "succeeded" and job["output"] and job["finished_at"]
    # The same representation as GET jobs/{id}.
    again = httpx.get(f"{live_server_url}{job['links']['self']}", headers={"Authorization": f"Bearer {raw}"})
    assert again.json() == job


@pytest.mark.django_db
def test_a_job_still_running_when_the_wait_ends_is_a_202(
    client: Client, owner: User, private_template
) -> None:
    # Inside the test's transaction no message is sent: the job stays queued.
    _token, raw = PersonalToken.issue(owner, "script")
    started = time.monotonic()
    response = post(
        client, "/templates/mine/generate", {"inputs": {"topic": "rain", "count": 2}, "wait": 0.3}, raw
    )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == JobStatus.QUEUED
    assert time.monotonic() - started >= 0.3  # it did wait


@pytest.mark.django_db
def test_a_finished_answer_with_wait_is_a_200_at_once(client: Client, owner: User, private_template) -> None:
    _token, raw = PersonalToken.issue(owner, "script")
    body = {"inputs": {"topic": "rain", "count": 2}}
    first = post(client, "/templates/mine/generate", body, raw).json()
    Job.objects.filter(pk=first["id"]).update(status=JobStatus.SUCCEEDED, output="Rain.", active_key=None)
    Job.objects.filter(pk=first["id"]).update(finished_at=Job.objects.get(pk=first["id"]).created_at)
    started = time.monotonic()
    cached = post(client, "/templates/mine/generate", {**body, "wait": 30}, raw)
    assert cached.status_code == 200 and cached.json()["output"] == "Rain." and cached.json()["cached"]
    assert time.monotonic() - started < 5


@pytest.mark.django_db
def test_an_answer_from_an_identical_result_is_a_200_with_its_output_without_wait(
    client: Client, owner: User, private_template
) -> None:
    """Finished at submission: a script has the output from the POST, with no stream to follow."""
    _token, raw = PersonalToken.issue(owner, "script")
    body = {"inputs": {"topic": "rain", "count": 2}}
    first = post(client, "/templates/mine/generate", body, raw)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    Job.objects.filter(pk=first.json()["id"]).update(
        status=JobStatus.SUCCEEDED, output="Rain.", active_key=None
    )
    Job.objects.filter(pk=first.json()["id"]).update(
        finished_at=Job.objects.get(pk=first.json()["id"]).created_at
    )
    cached = post(client, "/templates/mine/generate", body, raw)
    assert cached.status_code == 200, cached.content
    assert (
        cached.json()["status"] == "succeeded"
        and cached.json()["output"] == "Rain."
        and cached.json()["cached"]
    )


@pytest.mark.django_db
@pytest.mark.parametrize("wait", [61, -1, "5", True, None, "soon", [1], {"seconds": 1}])
def test_an_invalid_wait_is_a_400_naming_the_field(
    client: Client, owner: User, private_template, wait
) -> None:
    _token, raw = PersonalToken.issue(owner, "script")
    response = post(
        client, "/templates/mine/generate", {"inputs": {"topic": "rain", "count": 2}, "wait": wait}, raw
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (
        error["code"] == "validation_error"
        and "wait" in error["message"]
        and list(error["details"]) == ["wait"]
    )
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_the_wait_error_is_translated(client: Client, owner: User, private_template) -> None:
    _token, raw = PersonalToken.issue(owner, "script")
    body = {"inputs": {"topic": "rain", "count": 2}, "wait": 600}
    response = post(client, "/templates/mine/generate", body, raw, **{"Accept-Language": "pt-br"})
    assert response.json()["error"]["details"]["wait"] == ["Informe um número de segundos de 0 a 60."]


@pytest.mark.django_db
def test_waiting_follows_the_access_rules(
    client: Client, owner: User, other_user: User, private_template
) -> None:
    body = {"inputs": {"topic": "rain", "count": 2}, "wait": 1}
    revoked, revoked_raw = PersonalToken.issue(owner, "old")
    revoked.revoke()
    _token, other_raw = PersonalToken.issue(other_user, "theirs")
    assert post(client, "/templates/mine/generate", body).status_code == 401
    assert post(client, "/templates/mine/generate", body, revoked_raw).status_code == 401
    assert post(client, "/templates/mine/generate", body, other_raw).status_code == 404
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_beyond_the_waiting_slots_a_request_is_answered_at_once(
    client: Client, owner: User, private_template, settings
) -> None:
    settings.JOB_WAIT_MAX_CONCURRENT = 1
    waiting._waiting_slots.cache_clear()
    slots = waiting._waiting_slots()
    assert slots.acquire(blocking=False)  # another request is waiting
    try:
        _token, raw = PersonalToken.issue(owner, "script")
        started = time.monotonic()
        body = {"inputs": {"topic": "rain", "count": 2}, "wait": 30}
        response = post(client, "/templates/mine/generate", body, raw)
        assert response.status_code == 202 and time.monotonic() - started < 5
    finally:
        slots.release()
        waiting._waiting_slots.cache_clear()
