"""Personal tokens limited to one workspace and to a scope (read only, read and run), on
every road a token takes: every write operation of the OpenAPI document, the template
and job lists, the tokens page, GraphQL and the MCP server."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import PersonalToken, TokenScope, User
from jobs.models import Job
from promptlab.openapi import _path_example
from templates_app.models import Template, Visibility
from workspaces.models import Membership, Role, Workspace
from workspaces.services import create_team_workspace

pytestmark = pytest.mark.django_db

# Operations that take no credential (signing in and registering): nothing to scope.
UNAUTHENTICATED = {
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/auth/token/refresh"),
}
# What a `run` token may do beyond reading: start and steer runs.
RUN_OPERATIONS = {
    ("post", "/api/v1/templates/{slug}/generate"),
    ("post", "/api/v1/templates/{slug}/batches"),
    ("post", "/api/v1/jobs/{id}/cancel"),
    ("post", "/api/v1/jobs/{id}/retry"),
    ("post", "/api/v1/batches/{id}/cancel"),
    ("post", "/api/v1/batches/{id}/retry"),
}


def _write_operations() -> list[tuple[str, str]]:
    document = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    return sorted(
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("post", "put", "patch", "delete") and (method, path) not in UNAUTHENTICATED
    )


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(_path_example(path, m.group(1)) or "1"), path)


def _bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_the_run_operations_are_in_the_document() -> None:
    assert set(_write_operations()) >= RUN_OPERATIONS


@pytest.mark.parametrize("scope", [TokenScope.READ, TokenScope.RUN])
def test_every_write_operation_refuses_a_token_whose_scope_is_too_narrow(
    owner: User, scope: TokenScope
) -> None:
    """Every operation the document lists, new ones included: a view that forgets the scope
    check (its own permission_classes without TokenScopePermission) fails here."""
    _token, raw = PersonalToken.issue(owner, "narrow", scope=scope)
    client = _bearer(raw)
    for method, path in _write_operations():
        response = getattr(client, method)(_url(path), {}, format="json")
        allowed = scope == TokenScope.RUN and (method, path) in RUN_OPERATIONS
        if allowed:
            assert response.status_code != 403, (method, path, response.content)
        else:
            assert response.status_code == 403, (method, path, response.status_code, response.content)
            assert response.json()["error"]["code"] == "permission_denied", (method, path)


def test_a_read_only_token_reads(owner: User, make_template: Any) -> None:
    make_template(slug="haiku", owner=owner, visibility=Visibility.PRIVATE)
    _token, raw = PersonalToken.issue(owner, "reader", scope=TokenScope.READ)
    client = _bearer(raw)
    assert client.get("/api/v1/templates/haiku").status_code == 200
    assert client.get("/api/v1/jobs").status_code == 200
    refused = client.post("/api/v1/templates/haiku/generate", {"inputs": {"topic": "x"}}, format="json")
    assert refused.status_code == 403
    assert "scope" in refused.json()["error"]["message"]
    # Nor may it mint a broader token for itself.
    assert client.post("/api/v1/auth/tokens", {"name": "wider"}, format="json").status_code == 403


@pytest.fixture
def two_workspaces(owner: User, make_template: Any) -> dict[str, Any]:
    team = create_team_workspace(owner, "Team")
    personal = Workspace.objects.personal_for(owner)
    mine = make_template(slug="mine", owner=owner, visibility=Visibility.PRIVATE)
    shared = make_template(slug="shared", owner=owner, visibility=Visibility.PRIVATE)
    Template.objects.filter(pk=shared.pk).update(workspace=team)
    return {"team": team, "personal": personal, "mine": mine, "shared": shared}


def test_a_token_limited_to_a_workspace_reaches_only_its_templates_and_jobs(
    owner: User, two_workspaces: dict[str, Any]
) -> None:
    for template in (two_workspaces["mine"], two_workspaces["shared"]):
        version = template.published_version
        Job.objects.create(owner=owner, template_version=version, inputs={"topic": "x", "count": 1})
    _token, raw = PersonalToken.issue(owner, "team only", workspace=two_workspaces["team"])
    client = _bearer(raw)
    assert [t["slug"] for t in client.get("/api/v1/templates").json()] == ["shared"]
    assert client.get("/api/v1/templates/mine").status_code == 404
    inputs = {"inputs": {"topic": "x", "count": 1}}
    assert client.post("/api/v1/templates/mine/generate", inputs, format="json").status_code == 404
    assert {job["template"] for job in client.get("/api/v1/jobs").json()["results"]} == {"shared"}
    # An unlimited token of the same person reaches both.
    _token, wide = PersonalToken.issue(owner, "everything")
    assert sorted(t["slug"] for t in _bearer(wide).get("/api/v1/templates").json()) == ["mine", "shared"]


def test_a_deleted_workspace_takes_its_tokens_with_it(owner: User) -> None:
    team = create_team_workspace(owner, "Short-lived")
    token, _raw = PersonalToken.issue(owner, "team only", workspace=team)
    team.delete()
    # Not widened to every workspace: gone.
    assert not PersonalToken.objects.filter(pk=token.pk).exists()


def test_the_api_creates_limited_tokens_and_names_bad_fields(
    owner: User, other_user: User, two_workspaces: dict[str, Any]
) -> None:
    client = APIClient()
    client.force_authenticate(owner)
    created = client.post(
        "/api/v1/auth/tokens", {"name": "ci", "workspace": "team", "scope": "run"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["workspace"] == "team" and created.json()["scope"] == "run"
    token = PersonalToken.objects.get(pk=created.json()["id"])
    assert token.workspace == two_workspaces["team"] and token.scope == TokenScope.RUN
    # Someone else's workspace and an unknown one answer alike.
    foreign = create_team_workspace(other_user, "Theirs")
    for slug in (foreign.slug, "no-such-workspace"):
        refused = client.post("/api/v1/auth/tokens", {"name": "x", "workspace": slug}, format="json")
        assert refused.status_code == 400 and "workspace" in refused.json()["error"]["details"]
    wrong_scope = client.post("/api/v1/auth/tokens", {"name": "x", "scope": "admin"}, format="json")
    assert wrong_scope.status_code == 400 and "scope" in wrong_scope.json()["error"]["details"]
    outside = client.post(
        "/api/v1/auth/tokens", {"name": "x", "workspace": "team", "templates": ["mine"]}, format="json"
    )
    assert outside.status_code == 400 and "templates" in outside.json()["error"]["details"]


def test_the_tokens_page_limits_a_token_and_explains_a_mismatch(
    owner: User, two_workspaces: dict[str, Any]
) -> None:
    client = Client()
    client.force_login(owner)
    page = client.get("/accounts/tokens/").content.decode()
    assert "What it may do" in page and "Every workspace of mine" in page
    mine = two_workspaces["mine"]
    refused = client.post(
        "/accounts/tokens/",
        {"name": "x", "workspace": two_workspaces["team"].pk, "scope": "read", "templates": [mine.pk]},
    )
    assert refused.status_code == 200
    assert "Not in the chosen workspace: Mine." in refused.content.decode()
    assert not PersonalToken.objects.exists()
    client.post(
        "/accounts/tokens/", {"name": "reader", "workspace": two_workspaces["team"].pk, "scope": "read"}
    )
    token = PersonalToken.objects.get()
    assert token.scope == TokenScope.READ and token.workspace == two_workspaces["team"]
    listed = client.get("/accounts/tokens/").content.decode()
    assert "Read only" in listed and "Team" in listed


def test_graphql_takes_only_unlimited_tokens(owner: User, two_workspaces: dict[str, Any]) -> None:
    query = {"query": "{ templates { slug } }"}
    _token, limited = PersonalToken.issue(owner, "team only", workspace=two_workspaces["team"])
    refused = _bearer(limited).post("/graphql", query, format="json")
    assert refused.status_code == 403
    _token, read_only = PersonalToken.issue(owner, "reader", scope=TokenScope.READ)
    assert _bearer(read_only).post("/graphql", query, format="json").status_code == 403
    _token, unlimited = PersonalToken.issue(owner, "everything")
    assert _bearer(unlimited).post("/graphql", query, format="json").status_code == 200


def test_a_member_tokens_workspace_choices_are_their_own(owner: User, other_user: User) -> None:
    team = create_team_workspace(other_user, "Theirs")
    assert list(PersonalToken.workspace_choices(owner)) == [Workspace.objects.personal_for(owner)]
    Membership.objects.create(workspace=team, user=owner, role=Role.MEMBER)
    assert team in PersonalToken.workspace_choices(owner)


def test_an_empty_workspace_is_no_workspace(owner: User) -> None:
    """Found by the contract test: DRF took "" for null, making an unlimited token of a
    request that named no workspace the document allows."""
    client = APIClient()
    client.force_authenticate(owner)
    refused = client.post("/api/v1/auth/tokens", {"name": "x", "workspace": ""}, format="json")
    assert refused.status_code == 400 and "workspace" in refused.json()["error"]["details"]
    assert (
        client.post("/api/v1/auth/tokens", {"name": "x", "workspace": None}, format="json").status_code == 201
    )
