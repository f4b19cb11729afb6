"""The workspaces API: workspaces, their members and roles, and a template's workspace.

Every operation against every kind of caller (the four roles, someone outside the
workspace, an anonymous visitor), over a JWT and a personal token alike; then what each
operation refuses, and how."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import PersonalToken, User
from templates_app.models import Template, Visibility
from workspaces.models import Membership, Role, Workspace

pytestmark = pytest.mark.django_db

API = "/api/v1"
ROLES = ("owner", "admin", "editor", "member")


def call(
    client: Client,
    user: User | None,
    method: str,
    path: str,
    body: Any = None,
    *,
    auth: str = "jwt",
    **headers: str,
) -> Any:
    if user is not None:
        raw = str(AccessToken.for_user(user)) if auth == "jwt" else PersonalToken.issue(user, "script")[1]
        headers["Authorization"] = f"Bearer {raw}"
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(f"{API}{path}", **kwargs)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content.decode()[:500]
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error
    return error


@pytest.fixture
def people(db: None) -> dict[str, User]:
    return {
        name: User.objects.create_user(f"{name}@example.com", "correct horse battery", name=name.title())
        for name in (*ROLES, "target", "outsider")
    }


@pytest.fixture
def team(people: dict[str, User]) -> Workspace:
    """A team workspace with one member of each role, and ``target``, a plain member the
    operations on a member act on."""
    workspace = Workspace.objects.create(name="Team", slug="team")
    for name in (*ROLES, "target"):
        role = Role.MEMBER if name == "target" else Role(name)
        Membership.objects.create(workspace=workspace, user=people[name], role=role)
    return workspace


def target_id(team: Workspace, people: dict[str, User]) -> int:
    return Membership.objects.get(workspace=team, user=people["target"]).pk


# --- The access matrix ----------------------------------------------------------

# method, path, body, and the status for owner, admin, editor, member, outsider, anonymous.
OPERATIONS: list[tuple[str, str, Any, tuple[int, int, int, int, int, int]]] = [
    ("get", "/workspaces", None, (200, 200, 200, 200, 200, 401)),
    ("post", "/workspaces", {"name": "New team"}, (201, 201, 201, 201, 201, 401)),
    ("get", "/workspaces/team", None, (200, 200, 200, 200, 404, 401)),
    ("patch", "/workspaces/team", {"members_see_all_jobs": True}, (200, 200, 403, 403, 404, 401)),
    ("delete", "/workspaces/team", None, (204, 403, 403, 403, 404, 401)),
    ("get", "/workspaces/team/members", None, (200, 200, 200, 200, 404, 401)),
    ("patch", "/workspaces/team/members/{target}", {"role": "editor"}, (200, 200, 403, 403, 404, 401)),
    ("delete", "/workspaces/team/members/{target}", None, (204, 204, 403, 403, 404, 401)),
    ("post", "/workspaces/team/transfer", {"member": "{target}"}, (200, 403, 403, 403, 404, 401)),
]
CALLERS = (*ROLES, "outsider", "anonymous")


# Each signed-in caller with a JWT and with a personal token.
CALLS = [
    (caller, auth)
    for caller in CALLERS
    for auth in ("jwt", "token")
    if caller != "anonymous" or auth == "jwt"
]


@pytest.mark.parametrize(("caller", "auth"), CALLS, ids=[f"{caller}-{auth}" for caller, auth in CALLS])
@pytest.mark.parametrize(
    ("method", "path", "body", "statuses"), OPERATIONS, ids=[f"{m} {p}" for m, p, *_ in OPERATIONS]
)
def test_access_matrix(
    client: Client,
    people: dict[str, User],
    team: Workspace,
    method: str,
    path: str,
    body: Any,
    statuses: tuple[int, ...],
    caller: str,
    auth: str,
) -> None:
    member = target_id(team, people)
    path = path.replace("{target}", str(member))
    if body is not None:
        body = json.loads(json.dumps(body).replace('"{target}"', str(member)))
    expected = statuses[CALLERS.index(caller)]
    response = call(client, people.get(caller), method, path, body, auth=auth)
    assert response.status_code == expected, response.content.decode()[:500]
    codes = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}
    if expected in codes:
        assert_error(response, expected, codes[expected])
    if method == "get" and path == "/workspaces" and expected == 200:
        assert ("team" in [w["slug"] for w in response.json()]) == (caller in ROLES)


def test_a_write_the_role_forbids_changes_nothing(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    member = target_id(team, people)
    for name in ("editor", "member", "outsider"):
        call(client, people[name], "patch", "/workspaces/team", {"name": "Taken over"})
        call(client, people[name], "patch", f"/workspaces/team/members/{member}", {"role": "admin"})
        call(client, people[name], "delete", f"/workspaces/team/members/{member}")
        call(client, people[name], "post", "/workspaces/team/transfer", {"member": member})
        call(client, people[name], "delete", "/workspaces/team")
    team.refresh_from_db()
    assert team.name == "Team"
    assert Membership.objects.get(pk=member).role == Role.MEMBER
    assert team.owner_membership.user == people["owner"]


# --- Workspaces -------------------------------------------------------------------


def test_the_list_gives_each_workspace_with_the_callers_role(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    response = call(client, people["editor"], "get", "/workspaces")
    assert response.status_code == 200
    personal, shared = response.json()
    assert personal["personal"] is True and personal["role"] == "owner" and personal["member_count"] == 1
    assert {
        key: shared[key]
        for key in ("slug", "name", "personal", "role", "members_see_all_jobs", "member_count")
    } == {
        "slug": "team",
        "name": "Team",
        "personal": False,
        "role": "editor",
        "members_see_all_jobs": False,
        "member_count": 5,
    }
    assert shared["created_at"] and shared["links"]["members"] == "/api/v1/workspaces/team/members"


def test_create_makes_a_team_workspace_owned_by_its_creator(client: Client, people: dict[str, User]) -> None:
    response = call(client, people["outsider"], "post", "/workspaces", {"name": "Writers' room"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "writers-room" and body["role"] == "owner" and body["member_count"] == 1
    assert body["personal"] is False
    workspace = Workspace.objects.get(slug="writers-room")
    assert workspace.role_of(people["outsider"]) == Role.OWNER
    again = call(client, people["outsider"], "post", "/workspaces", {"name": "Writers' room"})
    assert again.json()["slug"] == "writers-room-2"  # made from the name: a free one
    chosen = call(
        client,
        people["outsider"],
        "post",
        "/workspaces",
        {"name": "Ink", "slug": "ink", "members_see_all_jobs": True},
    )
    assert chosen.status_code == 201 and chosen.json()["members_see_all_jobs"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 42}, "name"),
        ({"name": ["Team"]}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "Team", "slug": "team"}, "slug"),  # taken: a 400 naming it, not a 500
        ({"name": "Team", "slug": "not a slug"}, "slug"),
        ({"name": "Team", "slug": "x" * 51}, "slug"),
        ({"name": "Team", "slug": 7}, "slug"),
        ({"name": "Team", "members_see_all_jobs": "yes"}, "members_see_all_jobs"),
        ({"name": "Team", "personal": True}, "personal"),
        ({"name": "Team", "owner": "me"}, "owner"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(
    client: Client, people: dict[str, User], team: Workspace, body: dict[str, Any], field: str
) -> None:
    count = Workspace.objects.count()
    error = assert_error(call(client, people["member"], "post", "/workspaces", body), 400, "validation_error")
    assert field in error["details"], error
    assert Workspace.objects.count() == count


def test_a_body_that_is_not_an_object_is_a_400(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    for body in ([1, 2], "team", 3):
        assert_error(call(client, people["owner"], "post", "/workspaces", body), 400, "validation_error")
        assert_error(
            call(client, people["owner"], "patch", "/workspaces/team", body), 400, "validation_error"
        )


def test_an_admin_changes_the_name_and_job_visibility_but_not_the_slug(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    response = call(
        client,
        people["admin"],
        "patch",
        "/workspaces/team",
        {"name": "The team", "members_see_all_jobs": True},
    )
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "The team" and response.json()["member_count"] == 5
    team.refresh_from_db()
    assert team.name == "The team" and team.members_see_all_jobs is True
    error = assert_error(
        call(client, people["owner"], "patch", "/workspaces/team", {"slug": "renamed"}),
        400,
        "validation_error",
    )
    assert "slug" in error["details"]
    error = assert_error(
        call(client, people["owner"], "patch", "/workspaces/team", {"members_see_all_jobs": 1}),
        400,
        "validation_error",
    )
    assert "members_see_all_jobs" in error["details"]


def test_a_workspace_that_holds_templates_is_not_deleted(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    Template.objects.create(slug="shared", name="Shared", owner=people["editor"], workspace=team)
    error = assert_error(
        call(client, people["owner"], "delete", "/workspaces/team", **{"Accept-Language": "pt-br"}),
        409,
        "workspace_not_empty",
    )
    assert "templates" in error["message"] and "espaço de trabalho" in error["message"]
    assert Workspace.objects.filter(slug="team").exists()


def test_a_personal_workspace_is_not_deleted(client: Client, people: dict[str, User]) -> None:
    personal = Workspace.objects.personal_for(people["owner"])
    assert_error(
        call(client, people["owner"], "delete", f"/workspaces/{personal.slug}"), 409, "personal_workspace"
    )
    assert Workspace.objects.filter(pk=personal.pk).exists()


def test_someone_elses_personal_workspace_is_not_found(client: Client, people: dict[str, User]) -> None:
    personal = Workspace.objects.personal_for(people["owner"])
    for method in ("get", "patch", "delete"):
        assert_error(
            call(
                client,
                people["outsider"],
                method,
                f"/workspaces/{personal.slug}",
                {} if method == "patch" else None,
            ),
            404,
            "not_found",
        )
    assert_error(
        call(client, people["outsider"], "get", f"/workspaces/{personal.slug}/members"), 404, "not_found"
    )


def test_an_unknown_workspace_and_one_you_are_not_in_are_the_same_404(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    unknown = assert_error(call(client, people["outsider"], "get", "/workspaces/nope"), 404, "not_found")
    hidden = assert_error(call(client, people["outsider"], "get", "/workspaces/team"), 404, "not_found")
    assert unknown["message"] == hidden["message"]


# --- Members --------------------------------------------------------------------------


def test_any_member_lists_the_members(client: Client, people: dict[str, User], team: Workspace) -> None:
    response = call(client, people["member"], "get", "/workspaces/team/members")
    assert response.status_code == 200
    rows = response.json()
    assert [row["email"] for row in rows] == sorted(f"{name}@example.com" for name in (*ROLES, "target"))
    admin = next(row for row in rows if row["email"] == "admin@example.com")
    assert admin["role"] == "admin" and admin["name"] == "Admin" and admin["joined_at"] and admin["id"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"role": "boss"},
        {"role": 3},
        {"role": None},
        {"role": ["editor"]},
        {"role": "Editor"},
        {"role": "editor", "email": "x@example.com"},
    ],
)
def test_a_bad_role_is_a_400_naming_role(
    client: Client, people: dict[str, User], team: Workspace, body: dict[str, Any]
) -> None:
    member = target_id(team, people)
    error = assert_error(
        call(client, people["owner"], "patch", f"/workspaces/team/members/{member}", body),
        400,
        "validation_error",
    )
    assert set(error["details"]) <= {"role", "email"} and error["details"], error
    if "email" not in body:
        assert "role" in error["details"]
    assert Membership.objects.get(pk=member).role == Role.MEMBER


def test_the_role_rules_are_the_services(client: Client, people: dict[str, User], team: Workspace) -> None:
    member = target_id(team, people)
    owner_row = team.owner_membership.pk
    admin_row = Membership.objects.get(workspace=team, user=people["admin"]).pk
    path = "/workspaces/team/members/{}"
    # Nobody is made the owner but by a hand-over, nor is the owner's role changed.
    assert_error(
        call(client, people["owner"], "patch", path.format(member), {"role": "owner"}), 409, "use_transfer"
    )
    assert_error(
        call(client, people["admin"], "patch", path.format(owner_row), {"role": "member"}), 409, "owner_role"
    )
    # Only the owner makes or unmakes admins.
    error = assert_error(
        call(client, people["admin"], "patch", path.format(member), {"role": "admin"}),
        403,
        "permission_denied",
    )
    assert error["message"] == "Only the owner makes or unmakes admins."
    assert_error(
        call(client, people["admin"], "patch", path.format(admin_row), {"role": "member"}),
        403,
        "permission_denied",
    )
    response = call(client, people["owner"], "patch", path.format(member), {"role": "admin"})
    assert response.status_code == 200 and response.json()["role"] == "admin"
    assert Membership.objects.get(pk=member).role == Role.ADMIN


def test_a_member_of_another_workspace_is_not_found_here(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    elsewhere = Workspace.objects.create(name="Elsewhere", slug="elsewhere")
    row = Membership.objects.create(workspace=elsewhere, user=people["outsider"], role=Role.MEMBER)
    assert_error(
        call(client, people["owner"], "patch", f"/workspaces/team/members/{row.pk}", {"role": "editor"}),
        404,
        "not_found",
    )
    assert_error(
        call(client, people["owner"], "delete", f"/workspaces/team/members/{row.pk}"), 404, "not_found"
    )
    assert_error(
        call(client, people["owner"], "patch", "/workspaces/team/members/abc", {"role": "editor"}),
        404,
        "not_found",
    )
    assert Membership.objects.filter(pk=row.pk, role=Role.MEMBER).exists()


def test_removing_yourself_is_leaving(client: Client, people: dict[str, User], team: Workspace) -> None:
    own = Membership.objects.get(workspace=team, user=people["member"]).pk
    assert call(client, people["member"], "delete", f"/workspaces/team/members/{own}").status_code == 204
    assert_error(call(client, people["member"], "get", "/workspaces/team"), 404, "not_found")
    owner_row = team.owner_membership.pk
    assert_error(
        call(client, people["owner"], "delete", f"/workspaces/team/members/{owner_row}"), 409, "owner_role"
    )
    assert_error(
        call(client, people["admin"], "delete", f"/workspaces/team/members/{owner_row}"), 409, "owner_role"
    )


def test_only_the_owner_removes_an_admin(client: Client, people: dict[str, User], team: Workspace) -> None:
    admin_row = Membership.objects.get(workspace=team, user=people["admin"])
    second = Membership.objects.create(workspace=team, user=people["outsider"], role=Role.ADMIN)
    assert_error(
        call(client, people["admin"], "delete", f"/workspaces/team/members/{second.pk}"),
        403,
        "permission_denied",
    )
    assert call(client, people["owner"], "delete", f"/workspaces/team/members/{second.pk}").status_code == 204
    assert Membership.objects.filter(pk=admin_row.pk).exists()


def test_the_owner_hands_the_workspace_over(client: Client, people: dict[str, User], team: Workspace) -> None:
    member = target_id(team, people)
    response = call(
        client, people["owner"], "post", "/workspaces/team/transfer", {"member": member}, auth="token"
    )
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "admin"  # the caller's role, now
    assert team.owner_membership.user == people["target"]
    assert Membership.objects.get(workspace=team, user=people["owner"]).role == Role.ADMIN
    # The former owner can no longer delete it; the new one can.
    assert_error(call(client, people["owner"], "delete", "/workspaces/team"), 403, "permission_denied")
    assert call(client, people["target"], "delete", "/workspaces/team").status_code == 204


@pytest.mark.parametrize("member", [None, "1", True, 0, -3, 2**70, 1.5, [1], {"id": 1}])
def test_a_transfer_to_no_member_is_a_400_naming_member(
    client: Client, people: dict[str, User], team: Workspace, member: Any
) -> None:
    body = {} if member is None else {"member": member}
    error = assert_error(
        call(client, people["owner"], "post", "/workspaces/team/transfer", body), 400, "validation_error"
    )
    assert "member" in error["details"]
    assert team.owner_membership.user == people["owner"]


def test_a_transfer_to_someone_outside_the_workspace_is_refused(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    elsewhere = Workspace.objects.personal_for(people["outsider"]).memberships.get()
    error = assert_error(
        call(client, people["owner"], "post", "/workspaces/team/transfer", {"member": elsewhere.pk}),
        400,
        "validation_error",
    )
    assert "member" in error["details"]
    own = team.owner_membership.pk
    assert_error(
        call(client, people["owner"], "post", "/workspaces/team/transfer", {"member": own}), 409, "owner_role"
    )
    personal = Workspace.objects.personal_for(people["owner"])
    mine = personal.memberships.get().pk
    assert_error(
        call(client, people["owner"], "post", f"/workspaces/{personal.slug}/transfer", {"member": mine}),
        409,
        "personal_workspace",
    )


# --- A template's workspace ----------------------------------------------------------

TEMPLATE = {
    "slug": "shared",
    "name": "Shared",
    "body": "Hello {{ name }}.",
    "parameters": [{"name": "name", "type": "string"}],
}


def test_an_editor_creates_a_template_in_the_workspace(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    response = call(client, people["editor"], "post", "/templates", {**TEMPLATE, "workspace": "team"})
    assert response.status_code == 201, response.content
    assert response.json()["workspace"] == "team"
    template = Template.objects.get(slug="shared")
    assert template.workspace == team and template.owner == people["editor"]
    # The workspace's other editors manage it; its members read it only when it is shared with them.
    assert call(client, people["admin"], "patch", "/templates/shared", {"name": "Ours"}).status_code == 200
    assert (
        call(client, people["member"], "get", "/templates/shared").status_code == 404
    )  # private: editors only
    Template.objects.filter(pk=template.pk).update(visibility=Visibility.WORKSPACE)
    assert call(client, people["member"], "get", "/templates/shared").json()["workspace"] == "team"


def test_a_template_goes_to_the_personal_workspace_by_default(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    personal = Workspace.objects.personal_for(people["editor"])
    response = call(client, people["editor"], "post", "/templates", TEMPLATE)
    assert response.status_code == 201 and response.json()["workspace"] == personal.slug
    response = call(
        client, people["editor"], "post", "/templates", {**TEMPLATE, "slug": "other", "workspace": None}
    )
    assert response.status_code == 201 and response.json()["workspace"] == personal.slug


def test_no_template_goes_where_the_caller_is_no_editor(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    Workspace.objects.create(name="Hidden", slug="hidden")
    errors = {}
    for name, workspace in [
        ("member", "team"),
        ("outsider", "team"),
        ("outsider", "hidden"),
        ("outsider", "nope"),
    ]:
        error = assert_error(
            call(client, people[name], "post", "/templates", {**TEMPLATE, "workspace": workspace}),
            400,
            "validation_error",
        )
        errors[name, workspace] = error["details"]["workspace"]
    # Someone outside a workspace can't tell it from one that does not exist.
    assert errors["outsider", "team"] == errors["outsider", "hidden"] == errors["outsider", "nope"]
    assert not Template.objects.filter(slug="shared").exists()
    for bad in (7, ["team"], {"slug": "team"}, "", "not a slug", "x" * 300, "te\x00am"):
        error = assert_error(
            call(client, people["editor"], "post", "/templates", {**TEMPLATE, "workspace": bad}),
            400,
            "validation_error",
        )
        assert "workspace" in error["details"]


def test_an_editor_of_both_moves_a_template(client: Client, people: dict[str, User], team: Workspace) -> None:
    assert call(client, people["editor"], "post", "/templates", TEMPLATE).status_code == 201
    personal = Workspace.objects.personal_for(people["editor"])
    response = call(client, people["editor"], "patch", "/templates/shared", {"workspace": "team"})
    assert response.status_code == 200, response.content
    assert response.json()["workspace"] == "team" and Template.objects.get(slug="shared").workspace == team
    # Back to the personal one: by its slug, or with null.
    response = call(client, people["editor"], "patch", "/templates/shared", {"workspace": None})
    assert response.json()["workspace"] == personal.slug


def test_no_template_moves_without_the_editor_role_in_both(
    client: Client, people: dict[str, User], team: Workspace, staff: User
) -> None:
    # Into a workspace where the caller is only a member: the same 400 as on create.
    assert call(client, people["member"], "post", "/templates", TEMPLATE).status_code == 201
    error = assert_error(
        call(client, people["member"], "patch", "/templates/shared", {"workspace": "team"}),
        400,
        "validation_error",
    )
    assert "workspace" in error["details"]
    # Out of a workspace where the caller is only a member: they don't manage the template.
    Template.objects.create(
        slug="teams", name="Team's", owner=people["editor"], workspace=team, visibility=Visibility.SIGNED_IN
    )
    personal = Workspace.objects.personal_for(people["member"])
    assert_error(
        call(client, people["member"], "patch", "/templates/teams", {"workspace": personal.slug}),
        403,
        "permission_denied",
    )
    # Staff manage every template, but move one only out of a workspace they edit.
    own = Workspace.objects.personal_for(staff)
    assert_error(
        call(client, staff, "patch", "/templates/teams", {"workspace": own.slug}), 403, "permission_denied"
    )
    assert Template.objects.get(slug="teams").workspace == team
    assert Template.objects.get(slug="shared").workspace == personal


def test_the_template_list_filters_by_workspace(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    Template.objects.create(slug="in-team", name="In team", owner=people["editor"], workspace=team)
    Template.objects.create(slug="own", name="Own", owner=people["editor"])
    slugs = lambda response: [t["slug"] for t in response.json()]  # noqa: E731
    assert slugs(call(client, people["editor"], "get", "/templates?workspace=team")) == ["in-team"]
    personal = Workspace.objects.personal_for(people["editor"])
    assert slugs(call(client, people["editor"], "get", f"/templates?workspace={personal.slug}")) == ["own"]
    assert set(slugs(call(client, people["editor"], "get", "/templates?workspace="))) >= {"in-team", "own"}
    # Outside it, or for an unknown one: the same empty list.
    assert slugs(call(client, people["outsider"], "get", "/templates?workspace=team")) == []
    assert slugs(call(client, people["outsider"], "get", "/templates?workspace=nope")) == []
    for bad in ("not a slug", "te%00am", "x" * 51):
        error = assert_error(
            call(client, people["editor"], "get", f"/templates?workspace={bad}"), 400, "validation_error"
        )
        assert "workspace" in error["details"]


# --- The document -------------------------------------------------------------------


@pytest.fixture
def document(client: Client, db: None) -> dict:
    import yaml

    return yaml.safe_load(client.get("/api/schema/").content)


WORKSPACE_OPERATIONS = {
    ("get", "/api/v1/workspaces"): None,
    ("post", "/api/v1/workspaces"): None,
    ("get", "/api/v1/workspaces/{slug}"): "member",
    ("patch", "/api/v1/workspaces/{slug}"): "admin",
    ("delete", "/api/v1/workspaces/{slug}"): "owner",
    ("get", "/api/v1/workspaces/{slug}/members"): "member",
    ("patch", "/api/v1/workspaces/{slug}/members/{id}"): "admin",
    ("delete", "/api/v1/workspaces/{slug}/members/{id}"): "member",
    ("post", "/api/v1/workspaces/{slug}/transfer"): "owner",
}


def test_every_workspace_operation_is_documented_with_the_role_it_needs(document: dict) -> None:
    for (method, path), role in WORKSPACE_OPERATIONS.items():
        operation = document["paths"][path][method]
        assert operation["summary"] and operation["description"], (method, path)
        if role is not None:
            assert f"Needs the {role} role or higher." in operation["description"], (method, path)
    assert document["components"]["schemas"]["PatchedMemberRequest"]["required"] == ["role"]
    parameters = {p["name"] for p in document["paths"]["/api/v1/templates"]["get"]["parameters"]}
    assert "workspace" in parameters
    assert "workspace" in document["components"]["schemas"]["Template"]["properties"]
    documented = {
        (method, path)
        for path, item in document["paths"].items()
        # Invitations, the audit log and budgets: their own tests hold them to the same.
        if path.startswith("/api/v1/workspaces")
        and not any(part in path for part in ("/invitations", "/audit", "/budgets"))
        for method in item
    }
    assert documented == set(WORKSPACE_OPERATIONS)


def test_a_member_id_past_any_integer_is_a_404(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    path = f"/workspaces/team/members/{10**30}"
    assert_error(call(client, people["owner"], "patch", path, {"role": "editor"}), 404, "not_found")
    assert_error(call(client, people["owner"], "delete", path), 404, "not_found")


def test_a_token_limited_to_some_templates_cant_use_the_workspaces(
    client: Client, people: dict[str, User], team: Workspace
) -> None:
    template = Template.objects.create(slug="only", name="Only", owner=people["owner"], workspace=team)
    _token, raw = PersonalToken.issue(people["owner"], "one template", templates=[template])
    headers = {"Authorization": f"Bearer {raw}"}
    member = target_id(team, people)
    for method, path, body in [
        ("get", "/workspaces", None),
        ("get", "/workspaces/team/members", None),
        ("post", "/workspaces/team/transfer", {"member": member}),
        ("delete", f"/workspaces/team/members/{member}", None),
    ]:
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        assert_error(getattr(client, method)(f"{API}{path}", **kwargs), 403, "permission_denied")
    assert team.owner_membership.user == people["owner"]
    assert Membership.objects.filter(pk=member).exists()
    # Its template it still reads.
    assert client.get(f"{API}/templates/only", headers=headers).status_code == 200
