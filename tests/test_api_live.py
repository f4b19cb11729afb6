"""The API against the live server (uvicorn + the dispatcher, a real worker):
the documented script example, the JSON event stream, and the OpenAPI contract."""

from __future__ import annotations

import io
import json
import runpy
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta

import httpx
import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import PersonalToken, User

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
    expired = AccessToken.for_user(owner)
    expired.set_exp(lifetime=-timedelta(minutes=1))
    assert httpx.get(events_url, headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    revoked, revoked_raw = PersonalToken.issue(owner, "old")
    revoked.revoke()
    assert httpx.get(events_url, headers={"Authorization": f"Bearer {revoked_raw}"}).status_code == 401
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


def test_a_token_revoked_here_is_refused_at_once_by_the_server_that_cached_it(live_server_url) -> None:
    """The principal cache is shared: a revoke in one process reaches every other at once."""
    user = User.objects.create_user("c@example.com", "a long passphrase 42")
    token, raw = PersonalToken.issue(user, "script")
    me = f"{live_server_url}/api/v1/auth/me"
    for _ in range(3):  # now cached in the server's processes
        assert httpx.get(me, headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    token.revoke()
    assert httpx.get(me, headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_rate_limits_are_shared_between_processes(live_server_url) -> None:
    """Failed sign-ins counted by the server's processes and by this one add up (both
    see this machine's address)."""

    def wrong(n: int) -> dict[str, str]:
        return {"email": f"d{n}@example.com", "password": "not it"}

    for n in range(6):
        assert httpx.post(f"{live_server_url}/api/v1/auth/token", json=wrong(n)).status_code == 401
    here = Client()
    statuses = [
        here.post(
            "/api/v1/auth/token", wrong(n), content_type="application/json", REMOTE_ADDR="127.0.0.1"
        ).status_code
        for n in range(6, 11)
    ]
    assert statuses == [401] * 4 + [429], statuses
