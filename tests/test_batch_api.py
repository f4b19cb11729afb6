"""The batch API: POST templates/{slug}/batches (JSON rows or a file), its per-row errors
with nothing created, and the batch's reads and actions. Access by every kind of caller
is in test_api.py's access matrix; the document's conformance in test_api_contract.py."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from batches.models import Batch, BatchRow
from jobs.models import Job

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture
def auth(owner: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(owner)}"}


def post_json(client: Client, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(f"{API}{path}", json.dumps(body), content_type="application/json", headers=headers)


def test_rows_with_errors_are_a_400_listing_each_and_nothing_is_created(
    client: Client, auth: dict[str, str], make_template
) -> None:
    make_template()
    body = {"rows": [{"topic": "rain", "count": 2}, {"count": 3}, {"topic": "snow", "count": 9}]}
    response = post_json(client, "/templates/haiku/batches", body, auth)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["invalid_rows"] == 2
    assert [(e["row"], e["column"]) for e in error["details"]["rows"]] == [(2, "topic"), (3, "count")]
    assert all(isinstance(e["message"], str) and e["message"] for e in error["details"]["rows"])
    assert not Batch.objects.exists() and not BatchRow.objects.exists() and not Job.objects.exists()


def test_valid_rows_make_a_running_batch(client: Client, auth: dict[str, str], make_template) -> None:
    make_template()
    body = {"rows": [{"topic": "rain", "count": 2}, {"topic": "rain", "count": 2}], "concurrency": 2}
    response = post_json(client, "/templates/haiku/batches", body, auth)
    assert response.status_code == 201, response.content
    batch = response.json()
    assert batch["state"] == "running" and batch["source_name"] == "api" and batch["concurrency"] == 2
    counts = {"total": 2, "queued": 2, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert batch["counts"] == {**counts, "done": 0, "percent": 0}
    assert [c["provider"] for c in batch["configurations"]] == ["offline"]
    assert batch["links"]["page"] == f"/batches/{batch['id']}/"
    got = client.get(f"{API}/batches/{batch['id']}", headers=auth).json()
    assert got["id"] == batch["id"]
    rows = client.get(f"{API}/batches/{batch['id']}/rows", headers=auth).json()
    assert [(r["number"], r["status"], r["inputs"]) for r in rows["results"]] == [
        (1, "pending", {"topic": "rain", "count": 2}),
        (2, "pending", {"topic": "rain", "count": 2}),
    ]
    assert (
        client.get(f"{API}/batches/{batch['id']}/rows?status=succeeded", headers=auth).json()["results"] == []
    )
    assert client.get(f"{API}/batches/{batch['id']}/rows?status=nope", headers=auth).status_code == 400


def test_a_comparison_has_a_row_per_input_and_configuration(
    client: Client, auth: dict[str, str], make_template
) -> None:
    make_template()
    body = {
        "rows": [{"topic": "rain"}],
        "configurations": [{"label": "warm"}, {"temperature": "0.10", "label": "cold"}],
    }
    response = post_json(client, "/templates/haiku/batches", body, auth)
    assert response.status_code == 201, response.content
    batch = response.json()
    assert [c["label"] for c in batch["configurations"]] == ["warm", "cold"]
    assert batch["counts"]["total"] == 2
    same = post_json(client, "/templates/haiku/batches", {**body, "configurations": [{}, {}]}, auth)
    assert same.status_code == 400 and "configurations" in same.json()["error"]["details"]


def test_a_file_is_checked_like_the_pages_upload(client: Client, auth: dict[str, str], make_template) -> None:
    make_template()

    def send(content: str, **fields: Any) -> Any:
        upload = SimpleUploadedFile("rows.csv", content.encode(), content_type="text/csv")
        return client.post(f"{API}/templates/haiku/batches", {"file": upload, **fields}, headers=auth)

    bad = send("topic;count\nrain;2\n;3\n")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["rows"][0]["row"] == 2
    assert not Batch.objects.exists()
    unmapped = send("Subject,count\nrain,2\n")
    assert unmapped.status_code == 400 and "mapping" in unmapped.json()["error"]["details"]
    good = send("Subject,count\nrain,2\nfog,1\n", mapping=json.dumps({"Subject": "topic"}))
    assert good.status_code == 201, good.content
    assert good.json()["counts"]["total"] == 2 and good.json()["source_name"] == "rows.csv"
    assert send("").status_code == 400  # an empty file names the problem
    for mapping in ({"Subject": ["topic"]}, {"Subject": {"name": "topic"}}, {"Subject": 3}):
        wrong = send("Subject,count\nrain,2\n", mapping=json.dumps(mapping))  # was a TypeError, a 500
        assert wrong.status_code == 400 and "mapping" in wrong.json()["error"]["details"], mapping
    left_out = send(
        "Subject,count,notes\nrain,2,x\n", mapping=json.dumps({"Subject": "topic", "notes": None})
    )
    assert left_out.status_code == 201, left_out.content


def test_only_a_file_gets_the_larger_body_limit(
    client: Client, auth: dict[str, str], settings, make_template
) -> None:
    """JSON rows are parsed whole in memory: above the API's body limit they are refused
    (413) before anything reads them, on the path a file may use up to its plan's limit."""
    make_template()
    settings.API_MAX_BODY_BYTES = 10_000
    rows = [{"topic": "x" * 40} for _ in range(400)]  # ~20 KB of JSON
    assert post_json(client, "/templates/haiku/batches", {"rows": rows}, auth).status_code == 413
    text = "topic\n" + "\n".join("x" * 40 for _ in range(400)) + "\n"
    upload = SimpleUploadedFile("rows.csv", text.encode(), content_type="text/csv")
    sent = client.post(f"{API}/templates/haiku/batches", {"file": upload}, headers=auth)
    assert sent.status_code == 201, sent.content


def test_cancel_and_retry(client: Client, auth: dict[str, str], make_template) -> None:
    make_template()
    batch = post_json(
        client, "/templates/haiku/batches", {"rows": [{"topic": "a"}, {"topic": "b"}]}, auth
    ).json()
    BatchRow.objects.filter(batch_id=batch["id"], number=2).update(status="failed")
    Batch.objects.filter(pk=batch["id"]).update(pending=1, failed=1)
    retried = client.post(f"{API}/batches/{batch['id']}/retry", headers=auth).json()
    assert retried["counts"]["queued"] == 2 and retried["counts"]["failed"] == 0
    cancelled = client.post(f"{API}/batches/{batch['id']}/cancel", headers=auth).json()
    assert cancelled["state"] == "cancelled" and cancelled["counts"]["cancelled"] == 2
    again = client.post(f"{API}/batches/{batch['id']}/cancel", headers=auth)
    assert again.status_code == 200 and again.json()["state"] == "cancelled"


def test_retry_of_a_template_that_became_private_is_refused_on_both_roads(
    client: Client, auth: dict[str, str], owner: Any, make_template
) -> None:
    """Its author made it private after the batch ran: the failed rows don't run again,
    and both roads say why (a 409 here, a message on the page) rather than a 500."""
    template = make_template()
    batch = post_json(client, "/templates/haiku/batches", {"rows": [{"topic": "a"}]}, auth).json()
    BatchRow.objects.filter(batch_id=batch["id"]).update(status="failed")
    Batch.objects.filter(pk=batch["id"]).update(pending=0, failed=1, state="finished")
    template.visibility = "private"
    template.save(update_fields=["visibility"])
    refused = client.post(f"{API}/batches/{batch['id']}/retry", headers=auth)
    assert refused.status_code == 409, refused.content
    assert refused.json()["error"]["message"]
    client.force_login(owner)
    page = client.post(f"/batches/{batch['id']}/retry/", follow=True)
    assert page.status_code == 200
    assert [m.level_tag for m in page.context["messages"]] == ["error"]
    assert BatchRow.objects.get(batch_id=batch["id"]).status == "failed"


def test_the_event_stream_answers_only_its_owner(
    client: Client, auth: dict[str, str], other_user: Any, make_template
) -> None:
    make_template()
    batch = post_json(client, "/templates/haiku/batches", {"rows": [{"topic": "a"}]}, auth).json()
    path = f"{API}/batches/{batch['id']}/events"
    assert client.get(path).status_code == 401
    other = {"Authorization": f"Bearer {AccessToken.for_user(other_user)}"}
    assert client.get(path, headers=other).status_code == 404


def read_events(url: str, headers: dict[str, str]) -> list[dict[str, str]]:
    """The events of a stream, up to its ``done``."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
        for line in response.iter_lines():
            if not line:
                if "event" in current:
                    events.append(current)
                    if current["event"] == "done":
                        return events
                current = {}
            elif not line.startswith(":"):
                field, _sep, value = line.partition(": ")
                current[field] = current.get(field, "") + value
    return events


@pytest.mark.needs_redis
@pytest.mark.django_db(transaction=True)
def test_the_event_stream_sends_snapshots_until_done_and_resumes_from_its_last_id(
    live_server_url: str, owner: Any, make_template, llm
) -> None:
    from batches.services import create_batch

    rows = [(1, {"topic": "a", "count": 1}, {}), (2, {"topic": "b", "count": 1}, {})]
    batch = create_batch(make_template(), owner, rows)
    url = f"{live_server_url}{API}/batches/{batch.pk}/events"
    headers = {"Authorization": f"Bearer {AccessToken.for_user(owner)}"}
    events = read_events(url, headers)
    progress = [json.loads(event["data"]) for event in events if event["event"] == "progress"]
    assert events[-1] == {"event": "done", "data": "finished"}
    assert (
        progress[-1]["final"] is True
        and progress[-1]["succeeded"] == 2
        and progress[-1]["state"] == "finished"
    )
    assert [p["done"] for p in progress] == sorted(p["done"] for p in progress)  # never backwards
    # Reconnecting with the last id: nothing new to say but that it is over.
    last_id = next(event["id"] for event in reversed(events) if event["event"] == "progress")
    assert read_events(url, {**headers, "Last-Event-ID": last_id}) == [{"event": "done", "data": "finished"}]


def test_a_token_limited_to_other_templates_sees_none_of_this_ones_batches(
    client: Client, owner: Any, auth: dict[str, str], make_template
) -> None:
    from accounts.models import PersonalToken

    make_template()
    other = make_template(slug="other")
    batch = post_json(client, "/templates/haiku/batches", {"rows": [{"topic": "a"}]}, auth).json()
    _token, raw = PersonalToken.issue(owner, "limited", templates=[other])
    limited = {"Authorization": f"Bearer {raw}"}
    assert client.get(f"{API}/batches/{batch['id']}", headers=limited).status_code == 404
    assert client.get(f"{API}/batches", headers=limited).json()["results"] == []
    assert (
        post_json(client, "/templates/haiku/batches", {"rows": [{"topic": "a"}]}, limited).status_code == 404
    )
    assert client.get(f"{API}/batches/{batch['id']}/events", headers=limited).status_code == 404


def test_a_workbook_with_several_sheets_names_one(
    client: Client, auth: dict[str, str], make_template
) -> None:
    from .test_batch_browser import _workbook

    make_template()
    content = _workbook(
        {"North": [["topic"], ["fog"]], "South": [["topic", "count"], ["dew", 2], ["mist", 1]]}
    )

    def send(**fields: Any) -> Any:
        kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        upload = SimpleUploadedFile("two.xlsx", content, content_type=kind)
        return client.post(f"{API}/templates/haiku/batches", {"file": upload, **fields}, headers=auth)

    unnamed = send()
    assert unnamed.status_code == 400 and "North, South" in unnamed.json()["error"]["details"]["sheet"][0]
    named = send(sheet="South")
    assert named.status_code == 201 and named.json()["counts"]["total"] == 2
