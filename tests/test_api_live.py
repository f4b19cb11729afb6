"""The API against the live server (uvicorn + the dispatcher, a real worker):
the documented script example, the JSON event stream, and the OpenAPI contract."""

from __future__ import annotations

import io
import json
import runpy
from contextlib import redirect_stderr, redirect_stdout

import httpx
import pytest
from django.core.management import call_command

from accounts.models import User

from .conftest import BASE_DIR

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.needs_redis]


def test_documented_script_runs_a_template_and_streams_to_the_end(live_server_url) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    User.objects.create_user("script@example.com", "a long passphrase 42")
    example = runpy.run_path(str(BASE_DIR / "docs" / "api_example.py"))
    out, err = io.StringIO(), io.StringIO()
    inputs = {"product_name": "Aurora lamp", "features": "Warm light", "tone": "friendly", "word_count": 50}
    with redirect_stdout(out), redirect_stderr(err):
        code = example["main"](
            [
                "--url", live_server_url,
                "--email", "script@example.com", "--password", "a long passphrase 42",
                "--template", "product-description", "--inputs", json.dumps(inputs),
            ]
        )  # fmt: skip
    assert code == 0, err.getvalue()
    assert "Aurora lamp" in out.getvalue() and "[succeeded]" in err.getvalue()


def test_api_event_stream_needs_the_owners_credentials(live_server_url) -> None:
    from accounts.models import PersonalToken
    from jobs.models import Job

    call_command("seed_demo", stdout=io.StringIO())
    owner = User.objects.create_user("a@example.com", "a long passphrase 42")
    other = User.objects.create_user("b@example.com", "a long passphrase 42")
    _t, owner_raw = PersonalToken.issue(owner, "a")
    _t, other_raw = PersonalToken.issue(other, "b")
    started = httpx.post(
        f"{live_server_url}/api/v1/templates/meeting-summary/generate",
        json={"inputs": {"notes": "Ana: ship on Friday. Bo: tests first."}},
        headers={"Authorization": f"Bearer {owner_raw}"},
    )
    assert started.status_code == 202, started.text
    events_url = live_server_url + started.json()["links"]["events"]
    assert httpx.get(events_url).status_code == 401
    assert httpx.get(events_url, headers={"Authorization": f"Bearer {other_raw}"}).status_code == 404
    text = []
    with httpx.stream(
        "GET", events_url, headers={"Authorization": f"Bearer {owner_raw}"}, timeout=30
    ) as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "chunk":
                text.append(json.loads(line[6:])["text"])
            elif line.startswith("data: ") and event == "done":
                assert line[6:] == "succeeded"
                break
    assert "".join(text) == Job.objects.get(pk=started.json()["id"]).output
