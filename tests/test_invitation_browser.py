"""Invitations in a real browser (headless Chromium), by keyboard only, axe-core on every
page: an admin invites (a failed submit first), the invitee opens the e-mailed link (read
from the web server's console e-mail backend, as a person reads their inbox) and
accepts; the link's other pages (signed out, another account, no longer valid)."""

from __future__ import annotations

import quopri
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from workspaces.models import Invitation, Membership, Role
from workspaces.services import create_team_workspace

from .conftest import assert_accessible, start_web_server, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"

WORDS = {
    "en-US": {
        "email": "E-mail address",
        "send": "Send invitation",
        "sent": "An invitation was sent to dana@example.com.",
        "accept": "Accept and join",
        "joined": "You joined Acme Writers as editor.",
        "sign_in": "Sign in",
        "register": "Create an account",
        "another": "This invitation is for another e-mail address",
        "used": "This invitation has already been accepted.",
        "expired": "This invitation has expired.",
        "error": "Error:",
    },
    "pt-BR": {
        "email": "Endereço de e-mail",
        "send": "Enviar convite",
        "sent": "Um convite foi enviado para dana@example.com.",
        "accept": "Aceitar e entrar",
        "joined": "Você entrou em Acme Writers como editor.",
        "sign_in": "Entrar",
        "register": "Criar uma conta",
        "another": "Este convite é para outro endereço de e-mail",
        "used": "Este convite já foi aceito.",
        "expired": "Este convite expirou.",
        "error": "Erro:",
    },
}


@pytest.fixture(scope="module")
def mail_web_server(django_db_setup: None, service_log_dir: Path, worker: Any) -> Any:
    """A web server of its own whose e-mails go to its log (the console backend)."""
    server, url = start_web_server(
        service_log_dir,
        name="web-invitations",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
    )
    yield server, url
    server.stop()


GONE = "Failed to load resource: the server responded with a status of 410 (Gone)"


@pytest.fixture
def open_page(browser: Any) -> Any:
    """As conftest's ``signed_in_page``, for pages that answer 410 on purpose: the one
    console message Chromium logs for that is expected; any other fails the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_one(user: User | None, locale: str) -> Any:
        from django.test import Client

        context = browser.new_context(locale=locale)
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "domain": "127.0.0.1",
                "path": "/",
            }
            context.add_cookies([cookie])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on(
            "console",
            lambda message: message.type == "error" and message.text != GONE and errors.append(message.text),
        )
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield open_one
    for context in contexts:
        context.close()
    assert not errors, f"browser console errors: {errors}"


def is_focused(locator: Any) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def tab_to(page: Any, locator: Any, limit: int = 60) -> None:
    """Press Tab until ``locator`` has the focus: reached by keyboard, as a person would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if is_focused(locator):
            return
    raise AssertionError(f"{locator} not reached with Tab")


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_an_admin_invites_and_the_invitee_accepts_by_keyboard(
    signed_in_page: Any, open_page: Any, mail_web_server: Any, owner: User, locale: str
) -> None:
    server, url = mail_web_server
    words = WORDS[locale]
    workspace = create_team_workspace(owner, "Acme Writers", "acme")
    admin = User.objects.create_user("admin@example.com", PASSWORD)
    Membership.objects.create(workspace=workspace, user=admin, role=Role.ADMIN)
    invitee = User.objects.create_user("dana@example.com", PASSWORD)
    stranger = User.objects.create_user("stranger@example.com", PASSWORD)

    page = signed_in_page(admin, locale)
    page.goto(f"{url}/workspaces/acme/invitations/")
    assert_accessible(page)
    send = page.get_by_role("button", name=words["send"])
    tab_to(page, send)
    page.keyboard.press("Enter")  # nothing filled in: the error summary
    page.wait_for_selector("[data-error-summary]")
    assert page.title().startswith(words["error"]) and is_focused(page.locator("[data-error-summary]"))
    assert_accessible(page)

    email = page.get_by_label(words["email"])
    tab_to(page, email)
    page.keyboard.type("dana@example.com")
    tab_to(page, page.locator("#id_role_0"))  # the checked radio: arrows choose
    page.keyboard.press("ArrowDown")
    assert page.locator("#id_role_1").is_checked()
    tab_to(page, page.get_by_role("button", name=words["send"]))
    page.keyboard.press("Enter")
    messages = page.locator("[data-messages]")
    messages.wait_for()
    assert messages.inner_text() == words["sent"] and is_focused(messages)
    assert page.get_by_role("cell", name="dana@example.com", exact=True).count() == 1
    assert_accessible(page)

    pattern = re.compile(rf"{re.escape(url)}/workspaces/invitations/[A-Za-z0-9_-]{{43}}/")

    def inbox() -> str:  # the console backend writes each message quoted-printable
        return quopri.decodestring(server.log().encode()).decode(errors="replace")

    link = wait_until(lambda: (found := pattern.findall(inbox())) and found[-1])

    # Signed out, and signed in as someone else: told what to do; no accept button.
    visitor = signed_in_page(None, locale)
    visitor.goto(link)
    assert visitor.locator("main").get_by_role("link", name=words["sign_in"], exact=True).count() == 1
    assert visitor.locator("main").get_by_role("link", name=words["register"]).count() == 1
    assert_accessible(visitor)
    other = signed_in_page(stranger, locale)
    other.goto(link)
    assert words["another"] in other.inner_text("main")
    assert other.get_by_role("button", name=words["accept"]).count() == 0
    assert_accessible(other)

    invited = signed_in_page(invitee, locale)
    invited.goto(link)
    assert "Acme Writers" in invited.inner_text("main") and "admin@example.com" in invited.inner_text("main")
    assert_accessible(invited)
    tab_to(invited, invited.get_by_role("button", name=words["accept"]))
    invited.keyboard.press("Enter")
    joined = invited.locator("[data-messages]")
    joined.wait_for()
    assert joined.inner_text() == words["joined"]
    assert workspace.memberships.get(user=invitee).role == Role.EDITOR
    assert_accessible(invited)

    used = open_page(invitee, locale)
    assert used.goto(link).status == 410  # used: a clear page, no button
    assert words["used"] in used.inner_text("main")
    assert used.get_by_role("button", name=words["accept"]).count() == 0
    assert_accessible(used)


def test_an_expired_link_has_a_clear_accessible_page(
    open_page: Any, mail_web_server: Any, owner: User
) -> None:
    server, url = mail_web_server
    workspace = create_team_workspace(owner, "Acme Writers", "acme")
    invitation = Invitation(workspace=workspace, email="dana@example.com", invited_by=owner)
    token = invitation.issue_token()
    invitation.expires_at = timezone.now() - timedelta(minutes=1)
    invitation.save()
    for locale in ("en-US", "pt-BR"):
        page = open_page(None, locale)
        response = page.goto(f"{url}/workspaces/invitations/{token}/")
        assert response.status == 410
        assert WORDS[locale]["expired"] in page.inner_text("main")
        assert page.title().startswith(WORDS[locale]["error"])
        assert_accessible(page)
