"""Invitations to a team workspace: an admin invites an address by e-mail, whoever signs
in with that address accepts (an existing account, or one registered with it through the
usual e-mailed confirmation); expired, revoked, declined and used links are refused, as
is another account; the answers never say whether the address has an account; the API's
endpoints by role."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.models import Action, AuditEntry
from workspaces.models import Invitation, InvitationState, Membership, Role, Workspace
from workspaces.services import create_team_workspace

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a long passphrase 42"
LINK = re.compile(r"https?://\S+/workspaces/invitations/[A-Za-z0-9_-]{43}/")


@pytest.fixture
def team(owner: User) -> dict[str, Any]:
    """A team workspace with one user of each role, and a user who belongs to none."""
    workspace = create_team_workspace(owner, "Acme Writers", "acme")
    people: dict[str, Any] = {"workspace": workspace, "owner": owner}
    for role in (Role.ADMIN, Role.EDITOR, Role.MEMBER):
        user = User.objects.create_user(f"{role.value}@example.com", PASSWORD)
        Membership.objects.create(workspace=workspace, user=user, role=role)
        people[role.value] = user
    people["outsider"] = User.objects.create_user("outsider@example.com", PASSWORD)
    return people


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def invite_on_site(
    client: Client, email: str, role: str = "member", slug: str = "acme", **headers: Any
) -> Any:
    url = reverse("workspaces:invitations", args=[slug])
    return client.post(url, {"email": email, "role": role}, **headers)


def link_in(mail: Any) -> str:
    return LINK.search(mail.body).group(0)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[1]


def without_csrf(page: str) -> str:
    return re.sub(r'"X-CSRFToken": "\w+"|name="csrfmiddlewaretoken" value="\w+"', "", page)


def accept_on_api(client: Client, token: str) -> Any:
    return client.post("/api/v1/invitations/accept", {"token": token}, content_type="application/json")


# --- The invitation, end to end ---------------------------------------------------


def test_an_admin_invites_an_existing_user_who_accepts_once(team: dict[str, Any], mailoutbox: list) -> None:
    invitee = User.objects.create_user("dana@example.com", PASSWORD, name="Dana")
    response = invite_on_site(client_for(team["admin"]), "Dana@Example.com", "editor")
    assert response.status_code == 302 and response.url == reverse("workspaces:invitations", args=["acme"])

    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "dana@example.com",
        "editor",
        team["admin"],
    )
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    (mail,) = mailoutbox
    assert mail.to == ["dana@example.com"]
    assert "Acme Writers" in mail.subject and "admin@example.com" in mail.subject
    link = link_in(mail)
    assert invitation.token_hash not in mail.body and token_of(link) not in invitation.token_hash

    page = client_for(invitee).get(path_of(link))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Acme Writers" in text and "Editor" in text and "admin@example.com" in text
    assert reverse("workspaces:accept-invitation", args=[token_of(link)]) in text

    client = client_for(invitee)
    accepted = client.post(reverse("workspaces:accept-invitation", args=[token_of(link)]))
    assert accepted.status_code == 302
    assert Membership.objects.get(workspace=team["workspace"], user=invitee).role == Role.EDITOR
    invitation.refresh_from_db()
    assert invitation.state == InvitationState.ACCEPTED and invitation.accepted_by == invitee

    again = client.post(reverse("workspaces:accept-invitation", args=[token_of(link)]))
    assert again.status_code == 410
    assert "already been accepted" in again.content.decode()
    assert Membership.objects.filter(workspace=team["workspace"], user=invitee).count() == 1
    assert accept_on_api(client, token_of(link)).json()["error"]["code"] == "invitation_used"


def test_a_new_user_registers_with_the_invited_address_then_accepts(
    team: dict[str, Any], mailoutbox: list
) -> None:
    invite_on_site(client_for(team["admin"]), "newcomer@example.com")
    link = link_in(mailoutbox.pop())
    visitor = Client()
    page = visitor.get(path_of(link))
    assert page.status_code == 200
    register_url = page.context["register_url"]
    sign_in_url = page.context["sign_in_url"]
    assert sign_in_url == f"{reverse('accounts:login')}?next={path_of(link).replace('/', '%2F')}"
    text = page.content.decode()
    assert register_url.replace("&", "&amp;") in text and sign_in_url in text

    form = visitor.get(register_url)
    assert form.context["form"]["email"].value() == "newcomer@example.com"
    assert form.context["next"] == path_of(link)
    registered = visitor.post(register_url, {"email": "newcomer@example.com", "next": path_of(link)})
    assert registered.status_code == 302
    (confirmation,) = mailoutbox
    confirm_link = next(
        line.strip() for line in confirmation.body.splitlines() if "/accounts/confirm/" in line
    )
    assert confirm_link.endswith("?next=" + path_of(link).replace("/", "%2F"))

    finished = visitor.post(confirm_link, {"name": "", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert finished.status_code == 302 and finished.url == path_of(link)
    assert "Accept and join" in visitor.get(finished.url).content.decode()
    visitor.post(reverse("workspaces:accept-invitation", args=[token_of(link)]))
    newcomer = User.objects.get(email="newcomer@example.com")
    assert newcomer.is_active
    assert team["workspace"].memberships.get(user=newcomer).role == Role.MEMBER


def test_registration_drops_a_next_that_leads_off_the_site(mailoutbox: list) -> None:
    Client().post(reverse("accounts:register"), {"email": "x@example.com", "next": "https://evil.example/"})
    assert "next=" not in mailoutbox[0].body


def test_a_second_invitation_renews_the_first_and_kills_its_link(
    team: dict[str, Any], mailoutbox: list
) -> None:
    admin = client_for(team["admin"])
    invite_on_site(admin, "dana@example.com", "member")
    invitation = Invitation.objects.get()
    invitation.expires_at = timezone.now() - timedelta(days=1)
    invitation.save()
    invite_on_site(admin, "dana@example.com", "editor")
    first, second = (link_in(mail) for mail in mailoutbox)
    renewed = Invitation.objects.get()
    assert (
        renewed.pk == invitation.pk and renewed.role == "editor" and renewed.state == InvitationState.PENDING
    )
    assert Client().get(path_of(first)).status_code == 404
    assert Client().get(path_of(second)).status_code == 200


def test_the_database_keeps_one_open_invitation_per_address(team: dict[str, Any]) -> None:
    later = timezone.now() + timedelta(days=1)
    Invitation.objects.create(
        workspace=team["workspace"], email="a@example.com", token_hash="1", expires_at=later
    )
    with pytest.raises(IntegrityError):
        Invitation.objects.create(
            workspace=team["workspace"], email="a@example.com", token_hash="2", expires_at=later
        )


def test_a_closed_invitation_does_not_count_against_a_new_one(team: dict[str, Any], mailoutbox: list) -> None:
    admin = client_for(team["admin"])
    invite_on_site(admin, "dana@example.com")
    Client().post(reverse("workspaces:decline-invitation", args=[token_of(link_in(mailoutbox[0]))]))
    assert Invitation.objects.get().state == InvitationState.DECLINED
    declined = AuditEntry.objects.get(action=Action.INVITATION_DECLINED)  # by whoever held the link
    assert (declined.actor, declined.details["email"]) == (None, "dana@example.com")
    assert invite_on_site(admin, "dana@example.com").status_code == 302
    assert Invitation.objects.count() == 2 and Invitation.objects.open().count() == 1


# --- Links that no longer work --------------------------------------------------


@pytest.fixture
def invited(team: dict[str, Any], mailoutbox: list) -> dict[str, Any]:
    invitee = User.objects.create_user("dana@example.com", PASSWORD)
    invite_on_site(client_for(team["admin"]), invitee.email)
    link = link_in(mailoutbox.pop())
    return {**team, "invitee": invitee, "link": link, "token": token_of(link)}


def refused(invited: dict[str, Any], status: int, words: str, code: str) -> None:
    client = client_for(invited["invitee"])
    page = client.get(path_of(invited["link"]))
    assert page.status_code == status and words in page.content.decode()
    assert "Accept and join" not in page.content.decode()
    post = client.post(reverse("workspaces:accept-invitation", args=[invited["token"]]))
    assert post.status_code == status and words in post.content.decode()
    api = accept_on_api(client, invited["token"])
    assert api.status_code == status and api.json()["error"]["code"] == code
    assert not invited["workspace"].memberships.filter(user=invited["invitee"]).exists()


def test_an_expired_link_is_refused(invited: dict[str, Any]) -> None:
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    refused(invited, 410, "This invitation has expired.", "invitation_expired")


def test_a_revoked_link_is_refused(invited: dict[str, Any]) -> None:
    invitation = Invitation.objects.get()
    url = reverse("workspaces:revoke-invitation", args=["acme", invitation.pk])
    response = client_for(invited["admin"]).post(url, follow=True)
    assert "The invitation of dana@example.com was withdrawn." in response.content.decode()
    assert "dana@example.com</td>" not in response.content.decode()
    refused(invited, 410, "withdrawn by the workspace", "invitation_revoked")


def test_a_declined_link_is_refused(invited: dict[str, Any]) -> None:
    client_for(invited["invitee"]).post(reverse("workspaces:decline-invitation", args=[invited["token"]]))
    refused(invited, 410, "This invitation was declined.", "invitation_declined")


def test_another_account_is_told_and_offered_to_sign_out(invited: dict[str, Any]) -> None:
    other = client_for(invited["outsider"])
    page = other.get(path_of(invited["link"]))
    text = page.content.decode()
    assert page.status_code == 200 and "This invitation is for another e-mail address" in text
    assert reverse("accounts:logout") in text and f'name="next" value="{path_of(invited["link"])}"' in text
    assert "Accept and join" not in text
    post = other.post(reverse("workspaces:accept-invitation", args=[invited["token"]]))
    assert post.status_code == 403
    api = accept_on_api(other, invited["token"])
    assert api.status_code == 403 and api.json()["error"]["code"] == "invitation_for_another_address"
    declined = other.post(reverse("workspaces:decline-invitation", args=[invited["token"]]))
    assert declined.status_code == 403
    assert Invitation.objects.get().state == InvitationState.PENDING
    assert not invited["workspace"].memberships.filter(user=invited["outsider"]).exists()
    signed_out = other.post(reverse("accounts:logout"), {"next": path_of(invited["link"])})
    assert signed_out.url == path_of(invited["link"])


def test_an_unknown_token_is_a_404(client: Client) -> None:
    assert client.get(reverse("workspaces:invitation", args=["x" * 43])).status_code == 404
    assert (
        accept_on_api(client_for(User.objects.create_user("a@example.com", PASSWORD)), "nope").status_code
        == 404
    )


def test_an_anonymous_accept_goes_back_to_the_link(invited: dict[str, Any]) -> None:
    response = Client().post(reverse("workspaces:accept-invitation", args=[invited["token"]]))
    assert response.url == path_of(invited["link"])
    assert Invitation.objects.get().state == InvitationState.PENDING


def test_someone_who_joined_meanwhile_keeps_their_role(invited: dict[str, Any]) -> None:
    Membership.objects.create(workspace=invited["workspace"], user=invited["invitee"], role=Role.EDITOR)
    assert client_for(invited["invitee"]).post(
        reverse("workspaces:accept-invitation", args=[invited["token"]])
    )
    assert invited["workspace"].memberships.get(user=invited["invitee"]).role == Role.EDITOR
    assert Invitation.objects.get().state == InvitationState.ACCEPTED


# --- Who may invite ---------------------------------------------------------------


def test_who_sees_the_invitations_page(team: dict[str, Any]) -> None:
    url = reverse("workspaces:invitations", args=["acme"])
    statuses = {
        name: client_for(team[name]).get(url).status_code for name in ("owner", "admin", "editor", "member")
    }
    assert statuses == {"owner": 200, "admin": 200, "editor": 403, "member": 403}
    assert client_for(team["outsider"]).get(url).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous.url.startswith(reverse("accounts:login"))


def test_members_editors_and_outsiders_cannot_invite(team: dict[str, Any], mailoutbox: list) -> None:
    assert invite_on_site(client_for(team["member"]), "x@example.com").status_code == 403
    assert invite_on_site(client_for(team["editor"]), "x@example.com").status_code == 403
    assert invite_on_site(client_for(team["outsider"]), "x@example.com").status_code == 404
    invitation = Invitation.objects.create(
        workspace=team["workspace"], email="y@example.com", token_hash="h", expires_at=timezone.now()
    )
    revoke = reverse("workspaces:revoke-invitation", args=["acme", invitation.pk])
    assert client_for(team["member"]).post(revoke).status_code == 403
    assert client_for(team["outsider"]).post(revoke).status_code == 404
    assert not mailoutbox and Invitation.objects.get().revoked_at is None


def test_a_personal_workspace_invites_nobody(owner: User) -> None:
    personal = Workspace.objects.personal_for(owner)
    assert invite_on_site(client_for(owner), "x@example.com", slug=personal.slug).status_code == 404


def test_only_the_owner_invites_an_admin(team: dict[str, Any], mailoutbox: list) -> None:
    page = client_for(team["admin"]).get(reverse("workspaces:invitations", args=["acme"]))
    assert [value for value, _label in page.context["form"].fields["role"].choices] == ["member", "editor"]
    response = invite_on_site(client_for(team["admin"]), "x@example.com", "admin")
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "role": ["Choose member or editor: only the owner invites admins."]
    }
    assert "Error:" in response.content.decode() and not Invitation.objects.exists() and not mailoutbox
    assert invite_on_site(client_for(team["owner"]), "x@example.com", "admin").status_code == 302
    assert Invitation.objects.get().role == "admin"
    assert (
        "role" in invite_on_site(client_for(team["owner"]), "y@example.com", "owner").context["form"].errors
    )


def test_inviting_a_member_is_a_field_error(team: dict[str, Any], mailoutbox: list) -> None:
    response = invite_on_site(client_for(team["admin"]), "Editor@Example.com")
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "email": ["editor@example.com is already a member of this workspace."]
    }
    assert 'href="#id_email"' in response.content.decode()
    assert not mailoutbox


def test_bad_input_names_the_field(team: dict[str, Any]) -> None:
    response = invite_on_site(client_for(team["admin"]), "not an address", "chief")
    assert response.status_code == 200 and set(response.context["form"].errors) == {"email", "role"}


def test_the_answer_is_the_same_for_an_address_with_an_account_and_one_without(
    team: dict[str, Any], mailoutbox: list
) -> None:
    User.objects.create_user("known@example.com", PASSWORD)

    def outcome(email: str) -> tuple[Any, ...]:
        client = client_for(team["admin"])
        response = invite_on_site(client, email, follow=True)
        page = without_csrf(response.content.decode()).replace(email, "ADDRESS")
        page = re.sub(r"<tbody>.*</tbody>", "", page, flags=re.S)  # the list holds both by now
        mail = mailoutbox[-1]
        body = LINK.sub("LINK", mail.body).replace(email, "ADDRESS")
        return response.status_code, response.redirect_chain, page, mail.subject, body

    assert outcome("known@example.com") == outcome("unknown@example.com")

    def link_page(email: str) -> str:
        link = link_in(next(mail for mail in mailoutbox if mail.to == [email]))
        page = without_csrf(Client().get(path_of(link)).content.decode())
        return page.replace(token_of(link), "TOKEN").replace(email.replace("@", "%40"), "ADDRESS")

    assert link_page("known@example.com") == link_page("unknown@example.com")


def test_the_e_mail_is_in_the_inviters_language(team: dict[str, Any], mailoutbox: list) -> None:
    team["admin"].language = "pt-br"
    team["admin"].save()
    invite_on_site(client_for(team["admin"]), "dana@example.com")
    (mail,) = mailoutbox
    assert "convidou você" in mail.subject
    assert "Para aceitar ou recusar, abra este link:" in mail.body


def test_the_pages_are_in_portuguese(invited: dict[str, Any]) -> None:
    page = client_for(None).get(path_of(invited["link"]), HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    assert "Convite para Acme Writers" in page and "Criar uma conta" in page
    listing = client_for(invited["admin"]).get(
        reverse("workspaces:invitations", args=["acme"]), HTTP_ACCEPT_LANGUAGE="pt-BR"
    )
    assert "Convidar alguém" in listing.content.decode()


# --- The API --------------------------------------------------------------------

API_PEOPLE = ("owner", "admin", "editor", "member", "outsider", "anonymous")


def api_client(team: dict[str, Any], name: str) -> Client:
    return client_for(None if name == "anonymous" else team[name])


@pytest.mark.parametrize(
    ("name", "expected"),
    [("owner", 200), ("admin", 200), ("editor", 403), ("member", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_api_list_by_role(team: dict[str, Any], name: str, expected: int) -> None:
    Invitation.objects.create(
        workspace=team["workspace"],
        email="y@example.com",
        token_hash="h",
        expires_at=timezone.now() + timedelta(days=1),
    )
    response = api_client(team, name).get("/api/v1/workspaces/acme/invitations")
    assert response.status_code == expected
    if expected == 200:
        (row,) = response.json()
        assert row["email"] == "y@example.com" and row["state"] == "pending" and "token" not in str(row)


@pytest.mark.parametrize(
    ("name", "role", "expected"),
    [
        ("owner", "admin", 201),
        ("owner", "editor", 201),
        ("admin", "editor", 201),
        ("admin", "admin", 403),
        ("editor", "member", 403),
        ("member", "member", 403),
        ("outsider", "member", 404),
        ("anonymous", "member", 401),
    ],
)
def test_api_invite_by_role(
    team: dict[str, Any], mailoutbox: list, name: str, role: str, expected: int
) -> None:
    response = api_client(team, name).post(
        "/api/v1/workspaces/acme/invitations",
        {"email": "New@Example.com", "role": role},
        content_type="application/json",
    )
    assert response.status_code == expected
    if expected == 201:
        body = response.json()
        assert body["email"] == "new@example.com" and body["role"] == role and body["state"] == "pending"
        assert len(mailoutbox) == 1 and Invitation.objects.get().pk == body["id"]
    else:
        assert not mailoutbox and not Invitation.objects.exists()
    if name == "admin" and role == "admin":
        assert response.json()["error"]["details"] == {"role": ["Only the owner invites admins."]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nope", "role": "member"}, "email"),
        ({"email": "a@example.com", "role": "owner"}, "role"),
        ({"email": "editor@example.com", "role": "member"}, "email"),
        ({"email": "a@example.com", "role": "member", "token": "x"}, "token"),
        ({"role": "member"}, "email"),
    ],
)
def test_api_invite_errors_name_the_field(team: dict[str, Any], body: dict, field: str) -> None:
    response = client_for(team["owner"]).post(
        "/api/v1/workspaces/acme/invitations", body, content_type="application/json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and list(error["details"]) == [field]


def test_api_personal_workspace_has_no_invitations(owner: User) -> None:
    personal = Workspace.objects.personal_for(owner)
    assert client_for(owner).get(f"/api/v1/workspaces/{personal.slug}/invitations").status_code == 404


@pytest.mark.parametrize(
    ("name", "expected"),
    [("owner", 204), ("admin", 204), ("editor", 403), ("member", 403), ("outsider", 404), ("anonymous", 401)],
)
def test_api_revoke_by_role(team: dict[str, Any], name: str, expected: int) -> None:
    invitation = Invitation.objects.create(
        workspace=team["workspace"],
        email="y@example.com",
        token_hash="h",
        expires_at=timezone.now() + timedelta(days=1),
    )
    response = api_client(team, name).delete(f"/api/v1/workspaces/acme/invitations/{invitation.pk}")
    assert response.status_code == expected
    invitation.refresh_from_db()
    assert (invitation.state == InvitationState.REVOKED) == (expected == 204)


def test_api_revoke_of_a_closed_invitation_says_why(invited: dict[str, Any]) -> None:
    invitation = Invitation.objects.get()
    url = f"/api/v1/workspaces/acme/invitations/{invitation.pk}"
    admin = client_for(invited["admin"])
    assert admin.delete(url).status_code == 204
    again = admin.delete(url)
    assert again.status_code == 410 and again.json()["error"]["code"] == "invitation_revoked"
    assert admin.delete("/api/v1/workspaces/acme/invitations/999999").status_code == 404


def test_api_accept(invited: dict[str, Any]) -> None:
    assert accept_on_api(Client(), invited["token"]).status_code == 401
    client = client_for(invited["invitee"])
    response = accept_on_api(client, invited["token"])
    assert response.status_code == 200
    assert response.json() == {"workspace": "acme", "name": "Acme Writers", "role": "member"}
    again = accept_on_api(client, invited["token"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "invitation_used"
    bad = client.post("/api/v1/invitations/accept", {}, content_type="application/json")
    assert bad.status_code == 400 and list(bad.json()["error"]["details"]) == ["token"]


def test_api_decline(invited: dict[str, Any]) -> None:
    def decline(client: Client, token: str = invited["token"]) -> Any:
        return client.post("/api/v1/invitations/decline", {"token": token}, content_type="application/json")

    assert decline(Client()).status_code == 401
    refused = decline(client_for(User.objects.create_user("eve@example.com", PASSWORD)))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "invitation_for_another_address"
    client = client_for(invited["invitee"])
    assert decline(client).status_code == 204
    entry = AuditEntry.objects.get(action=Action.INVITATION_DECLINED)
    assert (entry.actor, entry.workspace.slug, entry.target_text) == (
        invited["invitee"],
        "acme",
        "dana@example.com",
    )
    again = accept_on_api(client, invited["token"])
    assert again.status_code == 410 and again.json()["error"]["code"] == "invitation_declined"
    assert not Membership.objects.filter(user=invited["invitee"], workspace__slug="acme").exists()
    assert decline(client, "x" * 43).status_code == 404


def test_the_openapi_document_describes_each_operation_and_its_role(client: Client) -> None:
    document = client.get("/api/schema/?format=json").json()
    paths = document["paths"]
    operations = {
        ("/api/v1/workspaces/{slug}/invitations", "get"): "**admin**",
        ("/api/v1/workspaces/{slug}/invitations", "post"): "**owner**",
        ("/api/v1/workspaces/{slug}/invitations/{id}", "delete"): "**admin**",
        ("/api/v1/invitations/accept", "post"): "Needs no role",
        ("/api/v1/invitations/decline", "post"): "Needs no role",
    }
    for (path, method), role in operations.items():
        assert role in paths[path][method]["description"]
    assert "410" in paths["/api/v1/invitations/accept"]["post"]["responses"]
    codes = document["components"]["schemas"]["ErrorEnvelope"]["properties"]["error"]["properties"]["code"][
        "enum"
    ]
    assert {
        "invitation_used",
        "invitation_expired",
        "invitation_revoked",
        "invitation_for_another_address",
    } <= set(codes)


@pytest.mark.django_db(transaction=True)
def test_two_accepts_at_once_make_one_membership_and_one_refusal(invited: dict[str, Any]) -> None:
    import threading

    from django.db import connection

    from workspaces import invitations
    from workspaces.invitations import InvitationError

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def accept() -> None:
        barrier.wait()
        try:
            invitations.accept(invited["token"], User.objects.get(pk=invited["invitee"].pk))
            outcomes.append("joined")
        except InvitationError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(outcomes) == ["invitation_used", "joined"]
    assert invited["workspace"].memberships.filter(user=invited["invitee"]).count() == 1


def test_a_line_break_in_a_name_stays_out_of_the_mail_headers(team: dict[str, Any], mailoutbox: list) -> None:
    """Found by the API's fuzzing: a workspace named with a line break made the invitation's
    subject a header Django refuses (a 500), or, unchecked, one that injects headers."""
    Workspace.objects.filter(pk=team["workspace"].pk).update(name="Acme\nBcc: everyone@example.com")
    response = invite_on_site(client_for(team["admin"]), "dana@example.com")
    assert response.status_code == 302
    (mail,) = mailoutbox
    assert "\n" not in mail.subject
    message = mail.message()  # what a real backend sends: builds the headers
    assert message["Bcc"] is None and "Acme Bcc:" in message["Subject"]
