"""The MCP server for agents (``/mcp``), through the official MCP Python client over
Streamable HTTP, against the live server (uvicorn + the dispatcher, a real worker and
the fake provider): tools are the templates a token may run, a call runs a job with
progress and answers its output, tokens and cost; a limited token reaches its
templates only (here and in the REST API); no token, or a revoked one, is refused."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import httpx2
import pytest
from django.test import Client
from django.utils import translation
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from accounts.models import PersonalToken, User
from jobs.models import Job, JobStatus
from templates_app.models import Template, Visibility

from .conftest import DEFAULT_REPLY, HAS_REDIS, wait_until
from .fakes.llm_server import Behaviour
from .test_providers import priced, provider_template  # noqa: F401  (priced: a fixture)

pytestmark = [pytest.mark.django_db(transaction=True)]


def agent(url: str, raw_token: str, work: Callable[[ClientSession], Awaitable[Any]], **headers: str) -> Any:
    """Connect as an agent does (the SDK's own client), do ``work``, disconnect."""

    async def main() -> Any:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {raw_token}", **headers}, timeout=60)
        async with (
            http,
            streamable_http_client(f"{url}/mcp", http_client=http) as (read, write, *_),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return await work(session)

    # In a thread of its own: the session's browser (Playwright's sync API) keeps an event
    # loop running in this thread once any browser test has run.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def tool_names(session: ClientSession) -> list[str]:
    return sorted(tool.name for tool in (await session.list_tools()).tools)


@pytest.fixture
def templates(owner: User, other_user: User, make_template: Any, priced: None) -> dict[str, Template]:  # noqa: F811
    runnable = {
        "poem": provider_template("anthropic", slug="poem"),  # public, on the fake provider
        "haiku": make_template(slug="haiku", owner=owner, visibility=Visibility.PRIVATE),  # offline
    }
    runnable["haiku"].description = "Short poems."
    runnable["haiku"].description_translations = {"pt-br": "Poemas curtos."}
    runnable["haiku"].save()
    make_template(slug="secret", owner=other_user, visibility=Visibility.PRIVATE)  # not the owner's to see
    Template.objects.create(slug="draft", name="Draft", owner=owner)  # never published: no tool
    return runnable


def test_an_agent_lists_the_tools_it_may_use_and_runs_one_with_progress(
    live_server_url: str, llm: Any, owner: User, templates: dict[str, Template]
) -> None:
    llm.script(Behaviour(chunk_delay=0.02))
    _token, raw = PersonalToken.issue(owner, "agent")
    progress: list[tuple[float, str | None]] = []

    async def work(session: ClientSession) -> Any:
        listed = (await session.list_tools()).tools

        async def seen(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, message))

        result = await session.call_tool("poem", {"topic": "trams", "count": 2}, progress_callback=seen)
        refused = await session.call_tool("haiku", {"topic": "trams", "count": 9})
        return listed, result, refused

    listed, result, refused = agent(live_server_url, raw, work, **{"Accept-Language": "pt-BR"})
    assert sorted(tool.name for tool in listed) == ["haiku", "poem"]
    haiku = next(tool for tool in listed if tool.name == "haiku")
    with translation.override("pt-br"):  # the same JSON Schema as GET templates/{slug}/schema
        assert haiku.input_schema == templates["haiku"].published_version.schema.json_schema()
    assert haiku.description == "Poemas curtos."  # the caller's language
    poem = next(tool for tool in listed if tool.name == "poem")
    assert poem.description == poem.title == "anthropic haiku"  # no description: its name

    job = Job.objects.get()
    assert (
        job.owner == owner
        and job.status == JobStatus.SUCCEEDED
        and job.template_version.template.slug == "poem"
    )
    assert not result.is_error
    assert result.content[0].text == job.output == DEFAULT_REPLY
    document = result.structured_content
    assert document["id"] == str(job.pk) and document["output_tokens"] == job.output_tokens > 0
    assert document["cost"] == str(job.cost) and job.cost > 0
    if HAS_REDIS:  # without Redis no chunk is published while the job streams
        values = [value for value, _message in progress]
        assert len(values) > 1 and values == sorted(values) and values[-1] == job.output_tokens
        assert "até agora" in progress[-1][1]  # the message, in the caller's language

    assert refused.is_error  # the form's own rule, in the caller's language, naming the field
    assert refused.structured_content["error"]["code"] == "validation_error"
    assert list(refused.structured_content["error"]["details"]) == ["count"]
    assert "count" in refused.content[0].text
    assert Job.objects.count() == 1  # the refused call started none


def test_a_token_limited_to_one_template_sees_and_runs_only_that_one(
    live_server_url: str, worker: Any, owner: User, templates: dict[str, Template]
) -> None:
    client = Client()
    client.force_login(owner)
    created = client.post(
        "/api/v1/auth/tokens", {"name": "haiku only", "templates": ["haiku"]}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["templates"] == ["haiku"]
    raw = created.json()["token"]

    async def work(session: ClientSession) -> Any:
        names = await tool_names(session)
        other = await session.call_tool("poem", {"topic": "trams", "count": 2})
        own = await session.call_tool("haiku", {"topic": "trams", "count": 2})
        return names, other, own

    names, other, own = agent(live_server_url, raw, work)
    assert names == ["haiku"]
    assert other.is_error and other.structured_content["error"]["code"] == "not_found"
    assert not own.is_error and own.structured_content["template"] == "haiku"

    # The REST API holds it to the same templates.
    api = httpx.Client(base_url=f"{live_server_url}/api/v1", headers={"Authorization": f"Bearer {raw}"})
    assert [t["slug"] for t in api.get("/templates").json()] == ["haiku"]
    assert api.get("/templates/poem").status_code == 404
    inputs = {"inputs": {"topic": "trams", "count": 2}}
    assert api.post("/templates/poem/generate", json=inputs).status_code == 404
    assert api.post("/templates/haiku/generate", json=inputs).status_code in (200, 202)
    assert {job["template"] for job in api.get("/jobs").json()["results"]} == {"haiku"}


def test_a_token_may_be_limited_only_to_templates_its_owner_can_run(
    client: Client, owner: User, templates: dict[str, Template]
) -> None:
    client.force_login(owner)
    for slug in ("secret", "draft", "nowhere"):
        refused = client.post(
            "/api/v1/auth/tokens", {"name": "x", "templates": [slug]}, content_type="application/json"
        )
        assert refused.status_code == 400 and list(refused.json()["error"]["details"]) == ["templates"]
    assert not PersonalToken.objects.exists()


def test_mcp_refuses_a_missing_revoked_or_non_personal_token(
    live_server_url: str, owner: User, templates: dict[str, Template]
) -> None:
    from rest_framework_simplejwt.tokens import AccessToken

    revoked, revoked_raw = PersonalToken.issue(owner, "old")
    revoked.revoke()
    ping = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    for credentials in (None, revoked_raw, str(AccessToken.for_user(owner)), "pl_made-up"):
        headers = {**accept, **({"Authorization": f"Bearer {credentials}"} if credentials else {})}
        answer = httpx.post(f"{live_server_url}/mcp", json=ping, headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "not_authenticated"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_cancelling_a_tool_call_cancels_its_job(
    live_server_url: str, llm: Any, owner: User, templates: dict[str, Template]
) -> None:
    llm.script(Behaviour(chunk_delay=0.5))
    _token, raw = PersonalToken.issue(owner, "agent")

    async def work(session: ClientSession) -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.5):
                await session.call_tool("poem", {"topic": "trams", "count": 2})

    agent(live_server_url, raw, work)
    job = wait_until(lambda: Job.objects.filter(status=JobStatus.CANCELLED).first())
    assert job.template_version.template.slug == "poem"
