"""One access matrix for everything a team workspace has, site pages and API alike, for
every kind of caller: its owner, admin, editor and member, a member of another workspace,
a signed-in person in none, an anonymous visitor, and two personal tokens of the owner's:
one limited to another workspace, one read only. A 404 wherever the caller must not learn
that the thing exists; a 403 only for someone who already knows it does."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import PersonalToken, TokenScope, User
from templates_app.models import Template, Visibility
from workspaces.models import Membership, Role, Workspace
from workspaces.services import create_team_workspace

pytestmark = pytest.mark.django_db

PEOPLE = ("owner", "admin", "editor", "member", "other_member", "outsider", "anonymous")
CALLERS = (*PEOPLE, "token_other_workspace", "token_read_only")
PARAMETERS = [{"name": "topic", "type": "string", "label": "Topic", "max_length": 50}]


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    people = {
        name: User.objects.create_user(f"{name}@example.com", "correct horse battery")
        for name in PEOPLE
        if name != "anonymous"
    }
    team = create_team_workspace(people["owner"], "Team", "team")
    for role in ("admin", "editor", "member"):
        Membership.objects.create(workspace=team, user=people[role], role=role)
    elsewhere = create_team_workspace(people["outsider"], "Elsewhere", "elsewhere")
    Membership.objects.filter(workspace=elsewhere).delete()  # the outsider belongs to none
    Membership.objects.create(workspace=elsewhere, user=people["other_member"], role=Role.OWNER)
    for slug, visibility in (("shared", Visibility.WORKSPACE), ("secret", Visibility.PRIVATE)):
        template = Template.objects.create(
            slug=slug, name=slug.title(), owner=people["editor"], workspace=team, visibility=visibility
        )
        template.save_content(
            {"body": "About {{ topic }}.", "parameters": PARAMETERS}, author=None, publish=True
        )
    personal = Workspace.objects.personal_for(people["owner"])
    _token, other_workspace = PersonalToken.issue(people["owner"], "other workspace", workspace=personal)
    _token, read_only = PersonalToken.issue(people["owner"], "read only", scope=TokenScope.READ)
    return {
        "people": people,
        "tokens": {"token_other_workspace": other_workspace, "token_read_only": read_only},
    }


def _site(world: dict[str, Any], caller: str) -> Client:
    client = Client()
    if caller != "anonymous":
        client.force_login(world["people"][caller])
    return client


def _api(world: dict[str, Any], caller: str) -> APIClient:
    client = APIClient()
    if caller in world["tokens"]:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world['tokens'][caller]}")
    elif caller != "anonymous":
        client.force_authenticate(world["people"][caller])
    return client


SIGN_IN = 302  # anonymous visitors are sent to sign in
MEMBERS = {"owner": 200, "admin": 200, "editor": 200, "member": 200}
ADMINS = {"owner": 200, "admin": 200, "editor": 403, "member": 403}
EDITORS = {"owner": 200, "admin": 200, "editor": 200, "member": 404}
NOBODY_ELSE = {"other_member": 404, "outsider": 404}

SITE_PAGES: dict[str, dict[str, int]] = {
    "/workspaces/team/": {**MEMBERS, **NOBODY_ELSE, "anonymous": SIGN_IN},
    "/workspaces/team/members/": {**MEMBERS, **NOBODY_ELSE, "anonymous": SIGN_IN},
    "/workspaces/team/settings/": {**ADMINS, **NOBODY_ELSE, "anonymous": SIGN_IN},
    "/workspaces/team/invitations/": {**ADMINS, **NOBODY_ELSE, "anonymous": SIGN_IN},
    "/workspaces/team/budgets/": {**ADMINS, **NOBODY_ELSE, "anonymous": SIGN_IN},
    "/workspaces/team/audit/": {**ADMINS, **NOBODY_ELSE, "anonymous": SIGN_IN},
    "/workspaces/team/delete/": {
        "owner": 200,
        "admin": 403,
        "editor": 403,
        "member": 403,
        **NOBODY_ELSE,
        "anonymous": SIGN_IN,
    },  # fmt: skip
    # A template for the workspace's members, and one for its editors only.
    "/t/shared/": {**MEMBERS, **NOBODY_ELSE, "anonymous": 404},
    "/t/secret/": {**EDITORS, **NOBODY_ELSE, "anonymous": 404},
    "/t/shared/edit/": {**EDITORS, **NOBODY_ELSE, "anonymous": SIGN_IN},
    "/t/shared/history/": {**EDITORS, **NOBODY_ELSE, "anonymous": 404},
    "/t/shared/v1/review/": {**EDITORS, **NOBODY_ELSE, "anonymous": 404},
}

TOKENS_ON_TEAM = {"token_other_workspace": 404, "token_read_only": 200}
API_READS: dict[str, dict[str, int]] = {
    "/api/v1/workspaces/team": {**MEMBERS, **NOBODY_ELSE, "anonymous": 401, **TOKENS_ON_TEAM},
    "/api/v1/workspaces/team/members": {**MEMBERS, **NOBODY_ELSE, "anonymous": 401, **TOKENS_ON_TEAM},
    "/api/v1/workspaces/team/invitations": {**ADMINS, **NOBODY_ELSE, "anonymous": 401, **TOKENS_ON_TEAM},
    "/api/v1/workspaces/team/budgets": {**ADMINS, **NOBODY_ELSE, "anonymous": 401, **TOKENS_ON_TEAM},
    "/api/v1/workspaces/team/audit": {**ADMINS, **NOBODY_ELSE, "anonymous": 401, **TOKENS_ON_TEAM},
    "/api/v1/templates/shared": {**MEMBERS, **NOBODY_ELSE, "anonymous": 401, **TOKENS_ON_TEAM},
    "/api/v1/templates/secret": {**EDITORS, **NOBODY_ELSE, "anonymous": 401, **TOKENS_ON_TEAM},
    "/api/v1/templates/shared/versions": {**MEMBERS, **NOBODY_ELSE, "anonymous": 401, **TOKENS_ON_TEAM},
}
# Writes: the read-only token is refused by its scope (403) before anything is looked up.
API_WRITES: dict[tuple[str, str, str], dict[str, int]] = {
    ("patch", "/api/v1/workspaces/team", '{"members_see_all_jobs": true}'): {
        **ADMINS, **NOBODY_ELSE, "anonymous": 401, "token_other_workspace": 404, "token_read_only": 403,
    },
    ("post", "/api/v1/templates/shared/generate", '{"inputs": {"topic": "tides"}}'): {
        "owner": 202, "admin": 202, "editor": 202, "member": 202, **NOBODY_ELSE,
        "anonymous": 401, "token_other_workspace": 404, "token_read_only": 403,
    },
    ("patch", "/api/v1/templates/shared", '{"description": "New."}'): {
        "owner": 200, "admin": 200, "editor": 200, "member": 403, **NOBODY_ELSE,
        "anonymous": 401, "token_other_workspace": 404, "token_read_only": 403,
    },
    ("post", "/api/v1/templates/shared/versions/1/review", '{"action": "comment", "comment": "Hi"}'): {
        "owner": 200, "admin": 200, "editor": 200, "member": 403, **NOBODY_ELSE,
        "anonymous": 401, "token_other_workspace": 404, "token_read_only": 403,
    },
}  # fmt: skip


def test_every_cell_of_the_matrix_is_given() -> None:
    for row in SITE_PAGES.values():
        assert set(row) == set(PEOPLE)
    for row in [*API_READS.values(), *API_WRITES.values()]:
        assert set(row) == set(CALLERS)


@pytest.mark.parametrize("path", SITE_PAGES)
def test_site_pages(world: dict[str, Any], path: str) -> None:
    seen = {caller: _site(world, caller).get(path).status_code for caller in PEOPLE}
    assert seen == SITE_PAGES[path]


@pytest.mark.parametrize("path", API_READS)
def test_api_reads(world: dict[str, Any], path: str) -> None:
    seen = {caller: _api(world, caller).get(path).status_code for caller in CALLERS}
    assert seen == API_READS[path]


@pytest.mark.parametrize("operation", API_WRITES, ids=lambda operation: f"{operation[0]} {operation[1]}")
def test_api_writes(world: dict[str, Any], operation: tuple[str, str, str]) -> None:
    method, path, body = operation
    seen = {
        caller: getattr(_api(world, caller), method)(path, body, content_type="application/json").status_code
        for caller in CALLERS
    }
    assert seen == API_WRITES[operation]
