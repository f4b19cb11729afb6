"""GraphQL against the running servers: the live server (another process) sees a newly
published version at once, a typed generate runs a real job on the worker, and GraphiQL
loads in Chromium under the CSP with no axe-core violation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from accounts.models import PersonalToken, User
from templates_app.models import Template, Visibility

from .conftest import SIMPLE_SCHEMA, assert_accessible

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = '{ __type(name: "LiveInput") { inputFields { name } } }'


def ask(url: str, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def live_template(owner: User) -> Template:
    template = Template.objects.create(slug="live", name="Live", owner=owner, visibility=Visibility.PRIVATE)
    template.create_version(body="Write {{ count }} lines about {{ topic }}.", parameters=SIMPLE_SCHEMA)
    return template


def test_publishing_a_version_changes_the_schema_in_the_running_server(
    live_server_url: str, owner: User, live_template: Template
) -> None:
    _token, raw = PersonalToken.issue(owner, "live")
    before = ask(live_server_url, raw, FIELDS)["data"]["__type"]["inputFields"]
    assert [field["name"] for field in before] == ["topic", "count"]
    live_template.create_version(
        body="Write {{ count }} lines about {{ topic }} in {{ mood }}.",
        parameters=[*SIMPLE_SCHEMA, {"name": "mood", "type": "choice", "choices": ["calm", "wild"]}],
        author=owner,
    )
    after = ask(live_server_url, raw, FIELDS)["data"]["__type"]["inputFields"]
    assert [field["name"] for field in after] == ["topic", "count", "mood"]
    # A draft is not published: the schema stays as it is.
    live_template.create_version(body="Only {{ topic }} {{ count }} {{ mood }}.", parameters=[
        *SIMPLE_SCHEMA, {"name": "mood", "type": "choice", "choices": ["calm", "wild"]},
        {"name": "draft_only", "type": "string", "required": False},
    ], publish=False)  # fmt: skip
    assert ask(live_server_url, raw, FIELDS)["data"]["__type"]["inputFields"] == after
    # Made private to another user: gone from their schema.
    other = User.objects.create_user("live-other@example.com", "correct horse battery")
    _t, other_raw = PersonalToken.issue(other, "live")
    assert ask(live_server_url, other_raw, FIELDS)["data"]["__type"] is None
    live_template.visibility = Visibility.SIGNED_IN
    live_template.save()
    assert ask(live_server_url, other_raw, FIELDS)["data"]["__type"] is not None


def test_a_typed_generate_runs_a_real_job_on_the_worker(
    live_server_url: str, owner: User, live_template: Template
) -> None:
    _token, raw = PersonalToken.issue(owner, "live")
    result = ask(
        live_server_url,
        raw,
        "mutation ($inputs: LiveInput!) { generateLive(inputs: $inputs, wait: 20) "
        "{ id status output outputTokens templateSlug } }",
        {"inputs": {"topic": "trams", "count": 2}},
    )
    job = result["data"]["generateLive"]
    assert job["status"] == "SUCCEEDED", result
    assert "trams" in job["output"] and job["outputTokens"] > 0 and job["templateSlug"] == "live"
    again = ask(
        live_server_url, raw, "query ($id: UUID!) { job(id: $id) { status output } }", {"id": job["id"]}
    )
    again = again["data"]["job"]
    assert again == {"status": "SUCCEEDED", "output": job["output"]}


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_graphiql_loads_under_the_csp_and_runs_a_query_as_the_signed_in_user(
    signed_in_page, live_server_url: str, owner: User, live_template: Template, locale: str
) -> None:
    page = signed_in_page(owner, locale)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and violations.append(message.text),
    )
    page.goto(f"{live_server_url}/graphql")
    page.wait_for_selector(".graphiql-container")
    page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
    page.wait_for_function(
        "() => document.querySelector('.result-window')?.textContent.includes('owner@example.com')"
    )
    assert "live" in page.locator(".result-window").inner_text()
    assert_accessible(page)
    assert violations == []
