"""The workspace pages without a browser: who reaches each page (owner, admin, editor,
member, a signed-in stranger, an anonymous visitor), what each action does and what it
refuses, the header's switcher, and the editor's workspace field."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from templates_app.models import Template, Visibility
from workspaces import services
from workspaces.current import SESSION_KEY
from workspaces.models import Membership, Role, Workspace

from .editor_helpers import editor_post

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def messages_in(page: str) -> list[str]:
    area = re.search(
        r'<div class="messages" role="status" tabindex="-1" data-messages>(.*?)</div>', page, re.S
    )
    return re.findall(r'<p class="message[^"]*">(.*?)</p>', area.group(1)) if area else []


@pytest.fixture
def team(db: None) -> dict[str, Any]:
    """A team workspace with one person in each role, and a stranger."""
    people = {
        name: User.objects.create_user(f"{name}@example.com", PASSWORD)
        for name in ("owner", "admin", "editor", "member", "stranger")
    }
    workspace = services.create_team_workspace(people["owner"], "Support team", "support")
    for name in ("admin", "editor", "member"):
        Membership.objects.create(workspace=workspace, user=people[name], role=name)
    return {"workspace": workspace, **people}


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def membership(team: dict[str, Any], name: str) -> Membership:
    return Membership.objects.get(workspace=team["workspace"], user=team[name])


PAGES = ["detail", "members", "leave", "transfer", "settings", "delete"]
# The status each role gets on a GET of each page: members' pages for all, admin's for admin+.
EXPECTED = {
    "detail": {"owner": 200, "admin": 200, "editor": 200, "member": 200},
    "members": {"owner": 200, "admin": 200, "editor": 200, "member": 200},
    "leave": {"owner": 200, "admin": 200, "editor": 200, "member": 200},
    "transfer": {"owner": 200, "admin": 403, "editor": 403, "member": 403},
    "settings": {"owner": 200, "admin": 200, "editor": 403, "member": 403},
    "delete": {"owner": 200, "admin": 403, "editor": 403, "member": 403},
}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("who", ["owner", "admin", "editor", "member", "stranger", "anonymous"])
def test_each_page_answers_each_role_as_its_rights_say(team: dict[str, Any], page: str, who: str) -> None:
    url = reverse(f"workspaces:{page}", args=["support"])
    response = client_for(team.get(who)).get(url)
    if who == "anonymous":
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
    elif who == "stranger":
        assert response.status_code == 404
    else:
        assert response.status_code == EXPECTED[page][who]
        if response.status_code == 403:
            assert "Your role in this workspace does not allow this." in response.content.decode()


@pytest.mark.parametrize("who", ["owner", "admin", "editor", "member", "stranger", "anonymous"])
def test_the_role_and_remove_actions_answer_each_role(team: dict[str, Any], who: str) -> None:
    target = membership(team, "member")
    client = client_for(team.get(who))
    role_url = reverse("workspaces:change_role", args=["support", target.pk])
    remove_url = reverse("workspaces:remove_member", args=["support", target.pk])
    role = client.post(role_url, {f"m{target.pk}-role": "editor"})
    remove_page = client.get(remove_url)
    expected = {"owner": 302, "admin": 302, "editor": 403, "member": 403, "stranger": 404}
    if who == "anonymous":
        assert role.status_code == 302 and reverse("accounts:login") in role["Location"]
        assert remove_page.status_code == 302 and reverse("accounts:login") in remove_page["Location"]
    else:
        assert role.status_code == expected[who]
        assert remove_page.status_code == (200 if expected[who] == 302 else expected[who])
    target.refresh_from_db()
    assert target.role == ("editor" if who in ("owner", "admin") else "member")


def test_the_list_shows_personal_first_with_the_role_and_member_count_in_a_fixed_number_of_queries(
    team: dict[str, Any],
) -> None:
    client = client_for(team["admin"])
    for number in range(3):
        other = services.create_team_workspace(team["owner"], f"Other {number}")
        Membership.objects.create(workspace=other, user=team["admin"], role=Role.MEMBER)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("workspaces:list"))
    for number in range(3, 8):
        other = services.create_team_workspace(team["owner"], f"Other {number}")
        Membership.objects.create(workspace=other, user=team["admin"], role=Role.MEMBER)
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("workspaces:list")).content.decode()
    assert len(many) == len(few)
    rows = re.findall(
        r'<th scope="row"[^>]*><a href="([^"]+)">([^<]+)</a></th>'
        r"\s*<td[^>]*>([^<]+)</td>\s*<td[^>]*>(\d+)</td>",
        page,
    )
    assert rows[0][1] == "Personal" and rows[0][2] == "Owner" and rows[0][3] == "1"
    support = next(row for row in rows if row[1] == "Support team")
    assert support[2] == "Admin" and support[3] == "4"
    assert len(rows) == 10


def test_creating_a_team_workspace_makes_the_creator_its_owner_and_opens_it(owner: User) -> None:
    client = client_for(owner)
    response = client.post(reverse("workspaces:list"), {"name": "  Research  ", "slug": ""})
    workspace = Workspace.objects.get(name="Research")
    assert response.status_code == 302 and response["Location"] == f"/workspaces/{workspace.slug}/"
    assert workspace.slug == "research" and not workspace.personal
    assert workspace.role_of(owner) == Role.OWNER
    assert client.session[SESSION_KEY] == workspace.pk


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "slug": ""}, "name", "Enter the workspace’s name."),
        ({"name": "   ", "slug": ""}, "name", "Enter the workspace’s name."),
        ({"name": "x" * 101, "slug": ""}, "name", "at most 100 characters"),
        ({"name": "Team", "slug": "Bad Slug"}, "slug", "only lower-case letters"),
        ({"name": "Team", "slug": "-dash"}, "slug", "only lower-case letters"),
        ({"name": "Team", "slug": "support"}, "slug", "Another workspace has this short name"),
    ],
)
def test_bad_input_for_a_new_workspace_keeps_the_form_and_names_the_field(
    team: dict[str, Any], data: dict[str, str], field: str, message: str
) -> None:
    before = Workspace.objects.count()
    response = client_for(team["owner"]).post(reverse("workspaces:list"), data)
    page = response.content.decode()
    assert response.status_code == 200 and Workspace.objects.count() == before
    assert page.count(message) >= 2  # in the summary and above the field
    assert f'href="#id_{field}"' in page and "<title>Error:" in page


def test_a_new_workspace_error_is_in_portuguese_for_a_portuguese_reader(owner: User) -> None:
    client = client_for(owner)
    client.cookies["django_language"] = "pt-br"
    page = client.post(
        reverse("workspaces:list"), {"name": ""}, HTTP_ACCEPT_LANGUAGE="pt-BR"
    ).content.decode()
    assert "Informe o nome do espaço de trabalho." in page
    assert "Seus espaços de trabalho" in page


def test_the_workspace_page_becomes_current_and_lists_its_visible_templates(
    team: dict[str, Any], make_template: Any
) -> None:
    shared = make_template(slug="shared", owner=team["editor"], visibility=Visibility.WORKSPACE)
    hidden = make_template(slug="hidden", owner=team["editor"], visibility=Visibility.PRIVATE)
    elsewhere = make_template(slug="elsewhere", owner=team["editor"], visibility=Visibility.WORKSPACE)
    for template in (shared, hidden):
        template.workspace = team["workspace"]
        template.save(update_fields=["workspace"])
    client = client_for(team["member"])
    page = client.get(reverse("workspaces:detail", args=["support"])).content.decode()
    assert client.session[SESSION_KEY] == team["workspace"].pk
    assert shared.get_absolute_url() in page
    assert "Hidden" not in page and "Elsewhere" not in page and elsewhere.workspace.personal
    assert reverse("templates_app:edit", args=["shared"]) not in page  # a member doesn't edit
    assert reverse("workspaces:settings", args=["support"]) not in page
    editor_page = (
        client_for(team["editor"]).get(reverse("workspaces:detail", args=["support"])).content.decode()
    )
    assert reverse("templates_app:edit", args=["hidden"]) in editor_page
    admin_page = (
        client_for(team["admin"]).get(reverse("workspaces:detail", args=["support"])).content.decode()
    )
    assert reverse("workspaces:settings", args=["support"]) in admin_page


def test_the_workspace_page_reads_its_templates_in_a_fixed_number_of_queries(
    team: dict[str, Any], make_template: Any
) -> None:
    def add(slug: str) -> None:
        template = make_template(slug=slug, owner=team["editor"], visibility=Visibility.WORKSPACE)
        template.workspace = team["workspace"]
        template.save(update_fields=["workspace"])
        template.set_tag_names([f"{slug}-tag", "shared"])

    add("first")
    client = client_for(team["editor"])
    url = reverse("workspaces:detail", args=["support"])
    client.get(url)  # the first visit also stores it as current in the session
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for number in range(4):
        add(f"more-{number}")
    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()
    assert len(many) == len(few)
    assert "more-3-tag" in page and reverse("templates_app:edit", args=["more-3"]) in page


def test_the_header_switcher_marks_the_current_workspace_in_one_query(team: dict[str, Any]) -> None:
    client = client_for(team["member"])
    page = client.get(reverse("accounts:account")).content.decode()
    switcher = re.search(r"<details class=\"workspace-switcher\".*?</details>", page, re.S).group(0)
    assert re.search(r'href="/workspaces/[^"]+/" aria-current="true">Personal<', switcher)
    assert 'href="/workspaces/support/">Support team<' in switcher
    client.get(reverse("workspaces:detail", args=["support"]))
    # On the home page (the account page reads the personal workspace again, for its
    # link to the sign-ins in that workspace's log).
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("templates_app:home")).content.decode()
    assert 'href="/workspaces/support/" aria-current="true">Support team<' in page
    assert sum('"workspaces_workspace"' in q["sql"] for q in queries.captured_queries) == 1
    assert "workspace-switcher" not in client_for(None).get(reverse("templates_app:home")).content.decode()


def test_the_members_page_lists_members_with_roles_in_a_fixed_number_of_queries(team: dict[str, Any]) -> None:
    client = client_for(team["owner"])
    url = reverse("workspaces:members", args=["support"])
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for number in range(5):
        user = User.objects.create_user(f"extra{number}@example.com", PASSWORD)
        Membership.objects.create(workspace=team["workspace"], user=user, role=Role.MEMBER)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()
    assert len(many) == len(few)
    assert "<caption" in page and "extra4@example.com" in page
    assert html.escape(Role.ADMIN.description) in page  # the roles explained
    for name in ("admin", "editor", "member"):
        assert reverse("workspaces:change_role", args=["support", membership(team, name).pk]) in page
    assert reverse("workspaces:transfer", args=["support"]) in page
    assert reverse("workspaces:leave", args=["support"]) not in page  # the owner hands over instead


def test_an_admin_is_offered_no_change_for_the_owner_or_another_admin(team: dict[str, Any]) -> None:
    other_admin = User.objects.create_user("admin2@example.com", PASSWORD)
    Membership.objects.create(workspace=team["workspace"], user=other_admin, role=Role.ADMIN)
    page = client_for(team["admin"]).get(reverse("workspaces:members", args=["support"])).content.decode()
    for name in ("editor", "member"):
        assert reverse("workspaces:change_role", args=["support", membership(team, name).pk]) in page
    for user in (team["owner"], other_admin):
        row = Membership.objects.get(workspace=team["workspace"], user=user)
        assert reverse("workspaces:change_role", args=["support", row.pk]) not in page
    assert reverse("workspaces:leave", args=["support"]) in page


def test_an_admin_cannot_make_an_admin_and_is_told_so(team: dict[str, Any]) -> None:
    target = membership(team, "editor")
    client = client_for(team["admin"])
    response = client.post(
        reverse("workspaces:change_role", args=["support", target.pk]),
        {f"m{target.pk}-role": "admin"},
        follow=True,
    )
    target.refresh_from_db()
    assert target.role == Role.EDITOR
    assert messages_in(response.content.decode()) == ["Only the owner makes or unmakes admins."]


def test_the_owner_makes_an_admin(team: dict[str, Any]) -> None:
    target = membership(team, "editor")
    response = client_for(team["owner"]).post(
        reverse("workspaces:change_role", args=["support", target.pk]),
        {f"m{target.pk}-role": "admin"},
        follow=True,
    )
    target.refresh_from_db()
    assert target.role == Role.ADMIN
    assert messages_in(response.content.decode()) == ["editor@example.com is now: Admin."]


@pytest.mark.parametrize("role", ["owner", "boss", ""])
def test_a_role_that_cannot_be_chosen_is_refused(team: dict[str, Any], role: str) -> None:
    target = membership(team, "member")
    response = client_for(team["owner"]).post(
        reverse("workspaces:change_role", args=["support", target.pk]),
        {f"m{target.pk}-role": role},
        follow=True,
    )
    target.refresh_from_db()
    assert target.role == Role.MEMBER
    assert messages_in(response.content.decode()) in (["Choose one of the roles listed."], ["Choose a role."])


def test_a_membership_of_another_workspace_is_not_found(team: dict[str, Any]) -> None:
    other = services.create_team_workspace(team["stranger"], "Elsewhere")
    Membership.objects.create(workspace=other, user=team["editor"], role=Role.MEMBER)
    foreign = Membership.objects.get(workspace=other, user=team["editor"])
    client = client_for(team["owner"])
    assert client.post(reverse("workspaces:change_role", args=["support", foreign.pk]), {}).status_code == 404
    assert client.get(reverse("workspaces:remove_member", args=["support", foreign.pk])).status_code == 404


def test_removing_asks_first_then_removes(team: dict[str, Any]) -> None:
    target = membership(team, "member")
    client = client_for(team["admin"])
    url = reverse("workspaces:remove_member", args=["support", target.pk])
    asked = client.get(url).content.decode()
    assert "member@example.com" in asked and 'method="post"' in asked
    assert Membership.objects.filter(pk=target.pk).exists()
    response = client.post(url, follow=True)
    assert not Membership.objects.filter(pk=target.pk).exists()
    assert messages_in(response.content.decode()) == ["member@example.com was removed from the workspace."]


def test_an_admin_cannot_remove_another_admin_nor_the_owner(team: dict[str, Any]) -> None:
    other_admin = User.objects.create_user("admin2@example.com", PASSWORD)
    row = Membership.objects.create(workspace=team["workspace"], user=other_admin, role=Role.ADMIN)
    client = client_for(team["admin"])
    refused = client.post(reverse("workspaces:remove_member", args=["support", row.pk]), follow=True)
    assert messages_in(refused.content.decode()) == ["Only the owner removes an admin."]
    owner_row = membership(team, "owner")
    refused = client.post(reverse("workspaces:remove_member", args=["support", owner_row.pk]), follow=True)
    assert "The owner cannot be removed" in messages_in(refused.content.decode())[0]
    assert Membership.objects.filter(pk__in=[row.pk, owner_row.pk]).count() == 2


def test_a_member_leaves_and_the_owner_cannot(team: dict[str, Any]) -> None:
    client = client_for(team["member"])
    client.get(reverse("workspaces:detail", args=["support"]))
    response = client.post(reverse("workspaces:leave", args=["support"]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("workspaces:list")
    assert team["workspace"].role_of(team["member"]) is None
    assert SESSION_KEY not in client.session
    assert client.get(reverse("workspaces:detail", args=["support"])).status_code == 404

    refused = client_for(team["owner"]).post(reverse("workspaces:leave", args=["support"]), follow=True)
    assert messages_in(refused.content.decode()) == [
        "The owner cannot leave: hand the workspace over first, or delete it."
    ]
    assert membership(team, "owner").role == Role.OWNER


def test_a_transfer_swaps_the_roles(team: dict[str, Any]) -> None:
    client = client_for(team["owner"])
    url = reverse("workspaces:transfer", args=["support"])
    page = client.get(url).content.decode()
    assert "editor@example.com" in page and "owner@example.com" not in page.split("<main", 1)[1]
    new_owner = membership(team, "editor")
    response = client.post(url, {"new_owner": new_owner.pk}, follow=True)
    assert membership(team, "editor").role == Role.OWNER
    assert membership(team, "owner").role == Role.ADMIN
    assert messages_in(response.content.decode()) == [
        "editor@example.com now owns the workspace; you are one of its admins."
    ]
    # The former owner is an admin now: the hand-over page is no longer theirs.
    assert client.get(url).status_code == 403


def test_a_transfer_without_a_choice_says_what_to_do(team: dict[str, Any]) -> None:
    response = client_for(team["owner"]).post(reverse("workspaces:transfer", args=["support"]), {})
    page = response.content.decode()
    assert response.status_code == 200 and "Choose the member who should own the workspace." in page
    assert membership(team, "owner").role == Role.OWNER


def test_settings_are_saved_by_an_admin(team: dict[str, Any]) -> None:
    url = reverse("workspaces:settings", args=["support"])
    response = client_for(team["admin"]).post(
        url, {"name": "Helpdesk", "members_see_all_jobs": "on"}, follow=True
    )
    team["workspace"].refresh_from_db()
    assert team["workspace"].name == "Helpdesk" and team["workspace"].members_see_all_jobs
    assert messages_in(response.content.decode()) == ["The workspace’s settings were saved."]
    assert client_for(team["editor"]).post(url, {"name": "Mine"}).status_code == 403
    team["workspace"].refresh_from_db()
    assert team["workspace"].name == "Helpdesk"
    refused = client_for(team["admin"]).post(url, {"name": " "})
    assert "Enter the workspace’s name." in refused.content.decode()


def test_a_personal_workspace_shows_only_you_keeps_its_name_and_cannot_be_deleted(owner: User) -> None:
    personal = Workspace.objects.personal_for(owner)
    client = client_for(owner)
    page = client.get(reverse("workspaces:members", args=[personal.slug])).content.decode()
    assert "it has no other members" in page and "owner@example.com" in page
    assert reverse("workspaces:leave", args=[personal.slug]) not in page
    settings_page = client.get(reverse("workspaces:settings", args=[personal.slug])).content.decode()
    assert (
        'name="name"' not in settings_page
        and reverse("workspaces:delete", args=[personal.slug]) not in settings_page
    )
    assert client.post(reverse("workspaces:delete", args=[personal.slug])).status_code == 403
    assert Workspace.objects.filter(pk=personal.pk).exists()


def test_deleting_is_refused_while_templates_remain_then_done(
    team: dict[str, Any], make_template: Any
) -> None:
    template = make_template(slug="kept", owner=team["owner"])
    template.workspace = team["workspace"]
    template.save(update_fields=["workspace"])
    client = client_for(team["owner"])
    url = reverse("workspaces:delete", args=["support"])
    refused = client.post(url)
    assert refused.status_code == 200 and "The workspace still holds templates" in refused.content.decode()
    assert Workspace.objects.filter(slug="support").exists()
    Template.all_objects.filter(pk=template.pk).delete()
    response = client.post(url, follow=True)
    assert not Workspace.objects.filter(slug="support").exists()
    assert response.redirect_chain[-1][0] == reverse("workspaces:list")


def test_every_post_needs_the_csrf_token(team: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(team["owner"])
    target = membership(team, "member")
    for url, data in [
        (reverse("workspaces:list"), {"name": "X"}),
        (reverse("workspaces:change_role", args=["support", target.pk]), {f"m{target.pk}-role": "editor"}),
        (reverse("workspaces:remove_member", args=["support", target.pk]), {}),
        (reverse("workspaces:transfer", args=["support"]), {"new_owner": target.pk}),
        (reverse("workspaces:settings", args=["support"]), {"name": "Y"}),
        (reverse("workspaces:delete", args=["support"]), {}),
    ]:
        assert client.post(url, data).status_code == 403
    target.refresh_from_db()
    assert target.role == Role.MEMBER and Workspace.objects.get(slug="support").name == "Support team"


# --- The editor's workspace field ----------------------------------------------------


def new_template_post(**overrides: str) -> dict[str, str]:
    data = {
        "meta-name": "Greeting",
        "meta-slug": "greeting",
        "meta-description": "",
        "meta-visibility": Visibility.WORKSPACE,
        "editor-body": "Hello {{ who }}",
        "editor-system_prompt": "",
        "editor-schema_format": "yaml",
        "editor-schema": "- name: who\n  type: string\n",
        "editor-provider": "offline",
        "editor-model": "offline-echo",
        "editor-temperature": "0.7",
        "editor-max_tokens": "1024",
        "action": "publish",
    }
    return data | overrides


def test_the_editor_offers_the_workspaces_where_one_edits_and_starts_on_the_current(
    team: dict[str, Any],
) -> None:
    client = client_for(team["editor"])
    page = client.get(reverse("templates_app:create")).content.decode()
    select = re.search(r'<select name="meta-workspace".*?</select>', page, re.S).group(0)
    assert "Support team" in select and "Personal" in select
    assert re.search(r'<option value="\d+" selected>Personal</option>', select)
    client.get(reverse("workspaces:detail", args=["support"]))
    page = client.get(reverse("templates_app:create")).content.decode()
    assert f'<option value="{team["workspace"].pk}" selected>Support team</option>' in page
    assert "Workspace members: everyone who is a member of its workspace" in page
    member_page = client_for(team["member"]).get(reverse("templates_app:create")).content.decode()
    assert "Support team" not in re.search(
        r'<select name="meta-workspace".*?</select>', member_page, re.S
    ).group(0)


def test_the_editor_creates_the_template_in_the_chosen_workspace(team: dict[str, Any]) -> None:
    client = client_for(team["editor"])
    data = new_template_post(**{"meta-workspace": str(team["workspace"].pk)})
    response = client.post(reverse("templates_app:create"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    template = Template.objects.get(slug="greeting")
    assert template.workspace == team["workspace"]
    assert template.is_managed_by(team["admin"]) and not template.is_managed_by(team["member"])


def test_the_editor_refuses_a_workspace_where_one_is_only_a_member(team: dict[str, Any]) -> None:
    client = client_for(team["member"])
    data = new_template_post(**{"meta-workspace": str(team["workspace"].pk)})
    response = client.post(reverse("templates_app:create"), data)
    page = response.content.decode()
    assert response.status_code == 200 and not Template.objects.filter(slug="greeting").exists()
    assert "Choose a workspace where you are an editor, an admin or the owner." in page


def test_a_template_moves_only_for_an_editor_of_both_workspaces(
    team: dict[str, Any], make_template: Any
) -> None:
    template = make_template(slug="moving", owner=team["editor"])
    personal = template.workspace
    assert personal.personal
    client = client_for(team["editor"])
    moved = client.post(
        reverse("templates_app:edit", args=["moving"]),
        editor_post(template, **{"meta-workspace": str(team["workspace"].pk)}),
    )
    assert moved.status_code == 302
    template.refresh_from_db()
    assert template.workspace == team["workspace"]
    # An admin there (an editor of their own personal one too) may move it on...
    admin_personal = Workspace.objects.personal_for(team["admin"])
    kept = client_for(team["admin"]).post(
        reverse("templates_app:edit", args=["moving"]),
        editor_post(template, **{"meta-workspace": str(admin_personal.pk)}),
    )
    assert kept.status_code == 302
    template.refresh_from_db()
    assert template.workspace == admin_personal  # admin is an editor in both: allowed
    # ...whereas staff who reach it without being an editor there cannot move it away.
    staff = User.objects.create_user("staff@example.com", PASSWORD, is_staff=True)
    staff_personal = Workspace.objects.personal_for(staff)
    refused = client_for(staff).post(
        reverse("templates_app:edit", args=["moving"]),
        editor_post(template, **{"meta-workspace": str(staff_personal.pk)}),
    )
    assert refused.status_code == 200
    assert "Moving a template needs the editor role in both workspaces." in refused.content.decode()
    template.refresh_from_db()
    assert template.workspace == admin_personal


def test_an_edit_without_a_workspace_in_the_post_keeps_the_template_where_it_is(
    team: dict[str, Any], make_template: Any
) -> None:
    template = make_template(slug="staying", owner=team["editor"])
    before = template.workspace_id
    response = client_for(team["editor"]).post(
        reverse("templates_app:edit", args=["staying"]), editor_post(template)
    )
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.workspace_id == before
