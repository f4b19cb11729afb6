"""Single sign-on in a real browser (headless Chromium): PromptLab's sign-in page, the
provider's login page (node-oidc-provider's, not ours: axe-core runs on PromptLab's pages
only), and back signed in, with the account made and mapped to its team workspace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from workspaces.models import Role
from workspaces.services import create_team_workspace

from .conftest import _free_port, assert_accessible, start_web_server
from .fakes.oidc import FakeOIDCProvider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEAM_SLUG = "docs-team"


@pytest.fixture(scope="module")
def sso_server_url(django_db_setup: None, service_log_dir: Path) -> Iterator[str]:
    """A web server of its own with the OIDC_* variables, so that the other tests'
    sign-in page has no provider."""
    port = _free_port()
    provider = FakeOIDCProvider(service_log_dir, [f"http://127.0.0.1:{port}/sso/callback/"])
    env = provider.settings_env(OIDC_DOMAIN_WORKSPACES=f"docs.example.com={TEAM_SLUG}:editor")
    server, url = start_web_server(service_log_dir, "web-sso", port=port, **env)
    yield url
    server.stop()
    provider.stop()


@pytest.mark.parametrize(
    ("locale", "button", "login", "signed_in"),
    [
        ("en-US", "Sign in with Test ID", "writer@docs.example.com", "You are signed in as"),
        ("pt-BR", "Entrar com Test ID", "escritor@docs.example.com", "Você entrou como"),
    ],
)
def test_sign_in_with_the_provider_makes_the_account_and_its_membership(
    browser: Any, sso_server_url: str, owner: User, locale: str, button: str, login: str, signed_in: str
) -> None:
    team = create_team_workspace(owner, "Docs team", slug=TEAM_SLUG)
    context = browser.new_context(locale=locale)
    errors: list[str] = []
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{sso_server_url}/accounts/login/")
        assert_accessible(page)
        link = page.get_by_role("link", name=button)
        link.focus()  # by keyboard
        page.keyboard.press("Enter")
        page.wait_for_url(f"{sso_server_url.rsplit(':', 1)[0]}:*/interaction/**")
        page.locator("input[name=login]").fill(login)
        page.locator("input[name=password]").fill("anything")
        page.locator("input[name=password]").press("Enter")
        page.wait_for_url(f"{sso_server_url}/")
        assert signed_in in page.locator("[data-messages]").inner_text()
        assert_accessible(page)
        user = User.objects.get(email=login)
        assert team.role_of(user) == Role.EDITOR
        page.goto(f"{sso_server_url}/accounts/account/")
        assert login in page.content()
        assert_accessible(page)
        # The account has no password: it may set one, with no current one to give.
        page.goto(f"{sso_server_url}/accounts/password/change/")
        assert page.locator("input[name=old_password]").count() == 0
        assert_accessible(page)
        page.locator("input[name=new_password1]").fill("a fresh horse battery")
        page.locator("input[name=new_password2]").fill("a fresh horse battery")
        page.locator("input[name=new_password2]").press("Enter")
        page.wait_for_url(f"{sso_server_url}/accounts/account/")
        assert_accessible(page)
        user.refresh_from_db()
        assert user.check_password("a fresh horse battery")
    finally:
        context.close()
    assert not errors


def test_an_unverified_address_comes_back_to_the_sign_in_page_with_the_reason(
    browser: Any, sso_server_url: str
) -> None:
    context = browser.new_context(locale="pt-BR")
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(f"{sso_server_url}/accounts/login/")
        page.get_by_role("link", name="Entrar com Test ID").click()
        page.locator("input[name=login]").fill("unverified@docs.example.com")
        page.locator("input[name=password]").fill("anything")
        page.locator("input[name=password]").press("Enter")
        page.wait_for_url(f"{sso_server_url}/accounts/login/")
        message = page.locator("[data-messages]")
        assert "Test ID não confirmou que o endereço de e-mail é seu" in message.inner_text()
        assert_accessible(page)
        assert not User.objects.filter(email="unverified@docs.example.com").exists()
    finally:
        context.close()
