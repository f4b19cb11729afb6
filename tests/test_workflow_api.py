"""A workflow run through the API: ``steps`` in the job, ``POST jobs/{id}/retry``, and the
job's event stream carrying the steps' events (the stream entry id as the SSE id, resumed
with Last-Event-ID), for scripts (JSON) and for the job page (htmx fragments)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.test import Client

from accounts.models import User
from jobs import streaming
from jobs.models import Job, JobStatus

from .test_api import Caller, assert_error, jwt_for
from .workflow_helpers import add_step, child_job, failed_run, make_run, make_workflow

API = "/api/v1"
STEP_FIELDS = {
    "name", "item", "status", "output", "output_data", "error_code", "error", "input_tokens",
    "output_tokens", "cost", "started_at", "finished_at", "job",
}  # fmt: skip


@pytest.fixture
def callers(owner: User, other_user: User) -> dict[str, Caller]:
    return {
        "owner": Caller("owner", {"Authorization": f"Bearer {jwt_for(owner)}"}),
        "other": Caller("another user", {"Authorization": f"Bearer {jwt_for(other_user)}"}),
        "anonymous": Caller("anonymous", {}),
    }


@pytest.mark.django_db
def test_a_runs_steps_are_in_its_representation_in_graph_order(client: Client, callers, owner) -> None:
    run = failed_run(make_workflow(owner=owner), owner)
    add_step(
        run, "lines", 2, "succeeded", item=0, output="A", input_tokens=1, output_tokens=2, cost=Decimal("0.5")
    )
    body = callers["owner"](client, "get", f"/jobs/{run.pk}").json()
    steps = body["steps"]
    assert [(s["name"], s["item"], s["status"]) for s in steps] == [
        ("outline", None, "succeeded"),
        ("intro", None, "failed"),
        ("lines", None, "cancelled"),
        ("lines", 0, "succeeded"),
        ("article", None, "waiting"),
    ]
    assert all(set(s) == STEP_FIELDS for s in steps)
    outline = steps[0]
    assert outline["output"] == '["a", "b"]' and outline["output_data"] == ["a", "b"]
    assert outline["input_tokens"] == 5 and outline["output_tokens"] == 7 and outline["cost"] == "0.000100"
    assert outline["job"] == str(run.steps.get(name="outline").job_id) and outline["started_at"]
    assert steps[1]["error_code"] == "provider_error" and steps[1]["error"]
    assert steps[3]["cost"] == "0.500000"


@pytest.mark.django_db
def test_a_plain_job_has_no_steps_and_lists_leave_them_out_unless_asked(
    client: Client, callers, owner, make_template
) -> None:
    from jobs.services import submit_generation

    plain = make_template(slug="plain", owner=owner)
    job = submit_generation(plain.published_version, {"topic": "x", "count": 2}, owner=owner)
    assert callers["owner"](client, "get", f"/jobs/{job.pk}").json()["steps"] == []
    run = failed_run(make_workflow(owner=owner), owner)
    listed = callers["owner"](client, "get", "/jobs").json()["results"]
    assert listed and all("steps" not in item for item in listed)
    asked = callers["owner"](client, "get", "/jobs?fields=id,steps").json()["results"]
    by_id = {item["id"]: item for item in asked}
    assert len(by_id[str(run.pk)]["steps"]) == 4 and by_id[str(job.pk)]["steps"] == []
    # A step's own job is not in the list (parts are not runs), but is its owner's to read.
    assert str(run.steps.get(name="outline").job_id) not in by_id
    child = run.steps.get(name="outline").job_id
    assert callers["owner"](client, "get", f"/jobs/{child}").status_code == 200


@pytest.mark.django_db
def test_retry_queues_a_failed_run_again_from_its_failed_step(client: Client, callers, owner) -> None:
    run = failed_run(make_workflow(owner=owner), owner)
    assert_error(callers["anonymous"](client, "post", f"/jobs/{run.pk}/retry"), 401, "not_authenticated")
    assert_error(callers["other"](client, "post", f"/jobs/{run.pk}/retry"), 404, "not_found")
    response = callers["owner"](client, "post", f"/jobs/{run.pk}/retry")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["id"] == str(run.pk) and body["status"] == "queued"
    statuses = {s["name"]: s["status"] for s in body["steps"] if s["item"] is None}
    assert statuses == {"outline": "succeeded", "intro": "waiting", "lines": "waiting", "article": "waiting"}
    # Queued again: not failed or cancelled any more, so a second retry conflicts.
    assert_error(callers["owner"](client, "post", f"/jobs/{run.pk}/retry"), 409, "conflict")


@pytest.mark.django_db
def test_retry_conflicts_for_a_succeeded_run_and_for_a_plain_job(
    client: Client, callers, owner, make_template
) -> None:
    run = make_run(make_workflow(owner=owner), owner, status=JobStatus.SUCCEEDED, output="Done.")
    assert_error(callers["owner"](client, "post", f"/jobs/{run.pk}/retry"), 409, "conflict")
    plain = make_template(slug="plain", owner=owner)
    job = Job.objects.create(
        template_version=plain.published_version, owner=owner, status=JobStatus.FAILED, inputs={},
        input_hash="p" * 64, prompt="x", provider="offline", model="offline-echo",
    )  # fmt: skip
    assert_error(callers["owner"](client, "post", f"/jobs/{job.pk}/retry"), 409, "conflict")
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED


@pytest.mark.django_db
def test_the_openapi_document_describes_steps_and_retry(client: Client) -> None:
    document = client.get("/api/schema/?format=json").json()
    retry = document["paths"]["/api/v1/jobs/{id}/retry"]["post"]
    assert {"202", "404", "409"} <= set(retry["responses"])
    job = document["components"]["schemas"]["Job"]
    assert "steps" in job["properties"] and job["properties"]["steps"]["type"] == "array"
    step = document["components"]["schemas"]["JobStep"]
    assert set(step["properties"]) == STEP_FIELDS
    events = document["paths"]["/api/v1/jobs/{id}/events"]["get"]
    assert "Last-Event-ID" in events["description"] and "`step`" in events["description"]


# --- The event stream (the live server, Redis) ------------------------------------


def read_events(response: httpx.Response | Iterator[str], until: str = "done") -> Iterator[dict[str, Any]]:
    """Each event of an SSE response (or its lines) as {event, id, data} (an id-only event
    included)."""
    event: dict[str, Any] = {}
    lines = response.iter_lines() if isinstance(response, httpx.Response) else response
    for line in lines:
        if not line:
            if event:
                yield event
                if event.get("event") == until:
                    return
            event = {}
            continue
        name, _, value = line.partition(": ")
        if name in ("event", "id"):
            event[name] = value
        elif name == "data":
            event["data"] = event["data"] + "\n" + value if "data" in event else value


def run_events(run: Job) -> list[dict[str, Any]]:
    return [
        {"type": "run", "status": "running", "terminal": False},
        {"type": "step", "step": "outline", "item": None, "status": "running", "job": None},
        {
            "type": "chunk",
            "step": "outline",
            "item": None,
            "job": "j1",
            "attempt": 1,
            "offset": 0,
            "text": "<a",
        },
        {
            "type": "chunk",
            "step": "outline",
            "item": None,
            "job": "j1",
            "attempt": 1,
            "offset": 2,
            "text": "b>",
        },
        {"type": "step", "step": "outline", "item": None, "status": "succeeded", "job": None},
        {"type": "step", "step": "lines", "item": 0, "status": "running", "job": None},
        {"type": "run", "status": "failed", "terminal": True},
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.needs_redis
def test_the_api_stream_sends_every_step_event_with_its_stream_id_and_resumes_after_last_event_id(
    live_server_url, owner
) -> None:
    run = failed_run(make_workflow(owner=owner), owner)
    streaming.publish_workflow_events(run.pk, run_events(run))
    entries = [entry_id for entry_id, _event in streaming.read_workflow_events(run.pk)]
    url = f"{live_server_url}{API}/jobs/{run.pk}/events"
    headers = {"Authorization": f"Bearer {jwt_for(owner)}"}
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(read_events(response))
    sent = [e for e in events if e.get("event") != "done"]
    assert [e["id"] for e in sent] == entries
    assert [e["event"] for e in sent] == ["run", "step", "chunk", "chunk", "step", "step", "run"]
    for event in sent:
        data = json.loads(event["data"])
        if event["event"] in ("step", "chunk"):
            assert "step" in data and "item" in data, data
    assert json.loads(sent[3]["data"])["text"] == "b>" and json.loads(sent[5]["data"])["item"] == 0
    assert events[-1] == {"event": "done", "data": "failed"}
    # Reconnected after the third event: exactly the entries after it.
    with httpx.stream("GET", url, headers={**headers, "Last-Event-ID": entries[2]}, timeout=30) as response:
        resumed = [e for e in read_events(response) if e.get("event") != "done"]
    assert [e["id"] for e in resumed] == entries[3:]
    # Another user's run is a 404, as for any job.
    other = User.objects.create_user("x@example.com", "a long passphrase 42")
    assert httpx.get(url, headers={"Authorization": f"Bearer {jwt_for(other)}"}).status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.needs_redis
def test_the_api_stream_of_a_running_run_relays_events_as_they_come(live_server_url, owner) -> None:
    run = make_run(make_workflow(owner=owner), owner)
    add_step(run, "outline", 0, "running")
    url = f"{live_server_url}{API}/jobs/{run.pk}/events"
    with httpx.stream(
        "GET", url, headers={"Authorization": f"Bearer {jwt_for(owner)}"}, timeout=30
    ) as response:
        lines = response.iter_lines()
        assert next(lines) == "retry: 1000"  # open: now the events come live
        streaming.publish_workflow_events(run.pk, run_events(run)[1:4])
        Job.objects.filter(pk=run.pk).update(status=JobStatus.FAILED)
        streaming.publish_workflow_events(run.pk, run_events(run)[-1:])
        events = list(read_events(lines))
    assert [e.get("event") for e in events if "event" in e] == ["step", "chunk", "chunk", "run", "done"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.needs_redis
def test_the_page_stream_opens_with_the_steps_and_appends_escaped_text_once(live_server_url, owner) -> None:
    run = make_run(make_workflow(owner=owner), owner)
    intro = child_job(run, "intro", status=JobStatus.RUNNING)
    add_step(run, "outline", 0, "succeeded", output="[]")
    add_step(run, "intro", 1, "running", job=intro)
    chunk = {"type": "chunk", "step": "intro", "item": None, "job": str(intro.pk), "attempt": 1}
    # Before the page connects: its opening holds this text, and no chunk repeats it.
    streaming.publish_workflow_events(run.pk, [{**chunk, "offset": 0, "text": "Hello <b>"}])
    session = Client()
    session.force_login(owner)
    cookies = {"sessionid": session.cookies["sessionid"].value}
    url = f"{live_server_url}/jobs/{run.pk}/events/"
    with httpx.stream("GET", url, cookies=cookies, timeout=30) as response:
        events = read_events(response)
        opening = next(events)
        assert opening["event"] == "step"
        assert '<section id="workflow-steps"' in opening["data"] and 'hx-swap-oob="true"' in opening["data"]
        assert "Hello &lt;b&gt;</pre>" in opening["data"]
        streaming.publish_workflow_events(run.pk, [{**chunk, "offset": 9, "text": "world"}])
        appended = next(events)
        assert appended["event"] == "chunk"
        assert appended["data"] == '<span hx-swap-oob="beforeend:#step-intro-output">world</span>'
        Job.objects.filter(pk=run.pk).update(status=JobStatus.SUCCEEDED, output="Hello world")
        run.steps.filter(name="intro").update(status="succeeded", output="Hello <b>world")
        streaming.publish_workflow_events(
            run.pk,
            [{"type": "step", "step": "intro", "item": None, "status": "succeeded"},
             {"type": "run", "status": "succeeded", "terminal": True}],
        )  # fmt: skip
        rest = list(events)
    step = next(e for e in rest if e.get("event") == "step")
    assert '<li id="step-intro"' in step["data"] and "Step “intro”: Succeeded." in step["data"]
    assert 'id="job-result"' in rest[-2]["data"] and rest[-1]["event"] == "done"
    # Resumed after the opening: no opening again, the chunk after it.
    with httpx.stream("GET", url, cookies=cookies, headers={"Last-Event-ID": opening["id"]}, timeout=30) as r:
        resumed = list(read_events(r))
    assert resumed[0]["event"] == "chunk" and resumed[0]["id"] == appended["id"]
