"""Single sign-on with OpenID Connect against a real provider (node-oidc-provider,
tests/fakes/oidc_provider.mjs): the Django test client goes to the provider, a person's
trip through its login page is made with plain HTTP, and the callback is PromptLab's own,
with the provider's real tokens (signature, nonce, PKCE, issuer and audience checked)."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.test.utils import override_settings

from accounts.models import User
from promptlab.ratelimits import ANONYMOUS_RATES
from sso import checks
from workspaces.models import Membership, Role
from workspaces.services import create_team_workspace

from .fakes.oidc import CLIENT_ID, CLIENT_SECRET, PROVIDER_NAME, FakeOIDCProvider, sign_in_at_provider

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def oidc_provider(service_log_dir: Path) -> Iterator[FakeOIDCProvider]:
    provider = FakeOIDCProvider(service_log_dir, ["http://testserver/sso/callback/"])
    yield provider
    provider.stop()


@pytest.fixture
def sso(settings: Any, oidc_provider: FakeOIDCProvider) -> Any:
    settings.OIDC_ISSUER = oidc_provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_PROVIDER_NAME = PROVIDER_NAME
    settings.OIDC_DOMAIN_WORKSPACES = ""
    return settings


def sign_in(client: Client, login: str, next_url: str = "") -> Any:
    """The whole trip: PromptLab's button, the provider's login page, PromptLab's callback."""
    begin = client.get("/sso/begin/", {"next": next_url} if next_url else {})
    assert begin.status_code == 302, begin
    callback = urlsplit(sign_in_at_provider(begin["Location"], login))
    assert callback.path == "/sso/callback/"
    return client.get(callback.path, parse_qs(callback.query), follow=True)


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).email if user_id else None


def test_the_first_sign_in_makes_the_account_from_the_verified_email(sso: Any) -> None:
    seen: list[Any] = []
    user_logged_in.connect(receiver := lambda sender, user, **kw: seen.append(user), weak=False)
    client = Client()
    try:
        response = sign_in(client, "New.Person@Example.com", next_url="/accounts/account/")
    finally:
        user_logged_in.disconnect(receiver)
    user = User.objects.get(email="new.person@example.com")
    assert response.redirect_chain[-1][0] == "/accounts/account/"
    assert signed_in_as(client) == user.email
    assert "You are signed in as new.person@example.com." in response.content.decode()
    assert user.name == "Test New.Person"  # the provider's name claim
    assert not user.has_usable_password()
    assert user.memberships.filter(workspace__personal=True).exists()  # as any new account
    assert seen == [user]  # the audit log hears of it as of a password sign-in


def test_a_later_sign_in_finds_the_account_by_email_whatever_its_case(sso: Any) -> None:
    existing = User.objects.create_user("alice@example.com", PASSWORD)
    client = Client()
    sign_in(client, "ALICE@Example.COM")
    assert signed_in_as(client) == "alice@example.com"
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    existing.refresh_from_db()
    assert existing.check_password(PASSWORD)  # the password sign-in is still there


@pytest.mark.parametrize(
    ("login", "language", "message"),
    [
        ("unverified@example.com", "en", "Test ID did not confirm that the e-mail address is yours"),
        ("unverified@example.com", "pt-br", "Test ID não confirmou que o endereço de e-mail é seu"),
        ("noemail-person", "en", "Test ID did not confirm that the e-mail address is yours"),
    ],
)
def test_an_unverified_or_missing_email_is_refused_on_the_sign_in_page(
    sso: Any, login: str, language: str, message: str
) -> None:
    client = Client(headers={"accept-language": language})
    failures: list[Any] = []
    user_login_failed.connect(receiver := lambda sender, **kw: failures.append(kw), weak=False)
    try:
        response = sign_in(client, login)
    finally:
        user_login_failed.disconnect(receiver)
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert message in response.content.decode()
    assert signed_in_as(client) is None
    assert not User.objects.filter(email__iexact=login).exists()
    assert len(failures) == 1


def test_an_inactive_account_is_refused(sso: Any) -> None:
    User.objects.create_user("gone@example.com", PASSWORD, is_active=False)
    client = Client()
    response = sign_in(client, "gone@example.com")
    assert "This PromptLab account is not active" in response.content.decode()
    assert signed_in_as(client) is None


def test_a_registration_awaiting_its_link_is_finished_by_the_provider_vouching_for_the_address(
    sso: Any,
) -> None:
    pending = User.objects.create_user(
        "pending@example.com", None, is_active=False, awaiting_confirmation=True
    )
    client = Client()
    sign_in(client, "pending@example.com")
    assert signed_in_as(client) == "pending@example.com"
    pending.refresh_from_db()
    assert pending.is_active and not pending.awaiting_confirmation


def test_an_email_domain_rule_makes_the_person_a_member_with_its_role(sso: Any, owner: User) -> None:
    docs = create_team_workspace(owner, "Docs team")
    support = create_team_workspace(owner, "Support")
    sso.OIDC_DOMAIN_WORKSPACES = f"docs.example.com={docs.slug}:editor, other.example={support.slug}:member"
    client = Client()
    sign_in(client, "writer@docs.example.com")
    user = User.objects.get(email="writer@docs.example.com")
    assert docs.role_of(user) == Role.EDITOR
    assert support.role_of(user) is None
    # Signing in again adds nothing.
    client.logout()
    sign_in(client, "writer@docs.example.com")
    assert Membership.objects.filter(user=user, workspace=docs).count() == 1


def test_a_domain_rule_never_lowers_a_role_nor_touches_the_owner(sso: Any, owner: User) -> None:
    docs = create_team_workspace(owner, "Docs team")
    admin = User.objects.create_user("lead@docs.example.com", PASSWORD)
    Membership.objects.create(workspace=docs, user=admin, role=Role.ADMIN)
    boss = User.objects.get(pk=owner.pk)
    boss.email = "owner@docs.example.com"
    boss.save()
    sso.OIDC_DOMAIN_WORKSPACES = f"docs.example.com={docs.slug}:member"
    sign_in(Client(), "lead@docs.example.com")
    sign_in(Client(), "owner@docs.example.com")
    assert docs.role_of(admin) == Role.ADMIN
    assert docs.role_of(boss) == Role.OWNER


def test_a_rule_naming_no_team_workspace_is_skipped(sso: Any, owner: User) -> None:
    sso.OIDC_DOMAIN_WORKSPACES = "docs.example.com=no-such-team:editor"
    client = Client()
    sign_in(client, "writer@docs.example.com")
    assert signed_in_as(client) == "writer@docs.example.com"


def test_the_request_to_the_provider_carries_state_nonce_and_a_pkce_challenge(sso: Any) -> None:
    response = Client().get("/sso/begin/")
    query = parse_qs(urlsplit(response["Location"]).query)
    assert response["Location"].startswith(f"{sso.OIDC_ISSUER}/auth?")
    assert query["redirect_uri"] == ["http://testserver/sso/callback/"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert query["scope"] == ["openid email profile"]
    assert CLIENT_SECRET not in response["Location"]


def test_starting_sign_ins_is_limited_per_address(sso: Any) -> None:
    client = Client(REMOTE_ADDR="198.51.100.9")
    allowed = int(ANONYMOUS_RATES[0].split("/")[0])
    for _ in range(allowed):
        assert client.get("/sso/begin/")["Location"].startswith(f"{sso.OIDC_ISSUER}/auth?")
    refused = client.get("/sso/begin/", follow=True)
    assert refused.redirect_chain[0][0] == "/accounts/login/"
    assert "Too many sign-ins were started from your address" in refused.content.decode()
    assert Client(REMOTE_ADDR="198.51.100.10").get("/sso/begin/")["Location"].startswith(sso.OIDC_ISSUER)


def test_a_next_on_another_site_is_ignored(sso: Any) -> None:
    response = sign_in(Client(), "bob@example.com", next_url="https://evil.example/steal")
    assert response.redirect_chain[-1][0] == "/"


def test_a_replayed_or_forged_callback_is_refused_without_an_error_page(sso: Any) -> None:
    client = Client()
    begin = client.get("/sso/begin/")
    callback = urlsplit(sign_in_at_provider(begin["Location"], "carol@example.com"))
    query = parse_qs(callback.query)
    forged = client.get(callback.path, {**query, "state": "not-the-state"}, follow=True)
    assert "Signing in with Test ID failed" in forged.content.decode()
    assert signed_in_as(client) is None
    client.get(callback.path, query)
    assert signed_in_as(client) == "carol@example.com"
    client.logout()
    replayed = client.get(callback.path, query, follow=True)  # the state was used up
    assert "Signing in with Test ID failed" in replayed.content.decode()
    assert signed_in_as(client) is None


def test_a_code_from_another_session_is_refused(sso: Any) -> None:
    """The state is kept in the session that started the sign-in: a code sent to someone
    else's browser (login CSRF) finds no state there."""
    begin = Client().get("/sso/begin/")
    callback = urlsplit(sign_in_at_provider(begin["Location"], "mallory@example.com"))
    victim = Client()
    victim.get("/sso/begin/")  # a sign-in of their own under way
    victim.get(callback.path, parse_qs(callback.query))
    assert signed_in_as(victim) is None


def test_cancelling_at_the_provider_says_so(sso: Any) -> None:
    client = Client()
    begin = client.get("/sso/begin/")
    state = parse_qs(urlsplit(begin["Location"]).query)["state"][0]
    response = client.get("/sso/callback/", {"error": "access_denied", "state": state}, follow=True)
    assert "Signing in with Test ID was cancelled." in response.content.decode()


def test_an_unreachable_provider_is_said_on_the_sign_in_page(sso: Any) -> None:
    from tests.conftest import _free_port

    sso.OIDC_ISSUER = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    response = Client().get("/sso/begin/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert "Test ID could not be reached" in response.content.decode()


def test_the_sign_in_page_offers_the_provider_only_when_configured(sso: Any) -> None:
    page = Client().get("/accounts/login/?next=/mine/").content.decode()
    assert "Sign in with Test ID" in page
    assert 'href="/sso/begin/?next=/mine/"' in page
    with override_settings(OIDC_ISSUER=""):
        assert "Sign in with" not in Client().get("/accounts/login/").content.decode()
        assert Client().get("/sso/begin/").status_code == 404
        assert Client().get("/sso/callback/?code=x&state=y").status_code == 404


def test_password_sign_in_still_works_beside_it(sso: Any) -> None:
    User.objects.create_user("dave@example.com", PASSWORD)
    client = Client()
    client.post("/accounts/login/?code=x&state=y", {"username": "dave@example.com", "password": PASSWORD})
    assert signed_in_as(client) == "dave@example.com"


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [
        ("example.com", "is not domain=workspace-slug:role"),
        ("example.com=docs", "is not domain=workspace-slug:role"),
        ("example.com=docs:owner", "the role 'owner' is not one of member, editor, admin"),
        ("example.com=docs:boss", "the role 'boss' is not one of"),
        ("person@example.com=docs:editor", "is not an e-mail domain"),
        ("example.com=docs:editor,localhost=support:member", "'localhost' is not an e-mail domain"),
    ],
)
def test_a_misconfigured_domain_mapping_is_a_system_check_error(
    sso: Any, mapping: str, fragment: str
) -> None:
    sso.OIDC_DOMAIN_WORKSPACES = mapping
    errors = checks.check_sso_settings()
    assert [error.id for error in errors] == ["sso.E004"]
    assert fragment in errors[0].msg
    assert "OIDC_DOMAIN_WORKSPACES" in errors[0].msg


def test_manage_py_check_stops_on_a_misconfigured_mapping(sso: Any) -> None:
    sso.OIDC_DOMAIN_WORKSPACES = "example.com=docs-team:owner"
    with pytest.raises(SystemCheckError, match=r"sso\.E004.*OIDC_DOMAIN_WORKSPACES"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_a_malformed_mapping_is_ignored_at_sign_in_rather_than_an_error_page(sso: Any) -> None:
    sso.OIDC_DOMAIN_WORKSPACES = "example.com=docs-team:owner"
    client = Client()
    sign_in(client, "erin@example.com")
    assert signed_in_as(client) == "erin@example.com"


def test_a_good_configuration_passes_the_checks(sso: Any) -> None:
    sso.OIDC_DOMAIN_WORKSPACES = "example.com=docs-team:editor,example.org=support:member"
    assert checks.check_sso_settings() == []


def test_half_a_configuration_is_a_system_check_error(sso: Any) -> None:
    sso.OIDC_RP_CLIENT_SECRET = ""
    errors = checks.check_sso_settings()
    assert [error.id for error in errors] == ["sso.E001"]
    assert "OIDC_CLIENT_SECRET not set" in errors[0].msg
    sso.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    sso.OIDC_RP_SCOPES = "openid profile"
    assert [error.id for error in checks.check_sso_settings()] == ["sso.E003"]
