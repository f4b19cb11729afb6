"""The workspace pages in a real browser (headless Chromium, axe-core on every page
visited, in English and Portuguese): a new team workspace, the header's switcher by
keyboard alone, a member's role changed by keyboard, and the confirmation pages."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from workspaces import services
from workspaces.models import Membership, Role, Workspace

from .conftest import assert_accessible, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
LOCALES = ["en-US", "pt-BR"]
WORDS = {
    "en-US": {"personal": "Personal", "members": "Members", "change": "Change role", "remove": "Remove"},
    "pt-BR": {"personal": "Pessoal", "members": "Membros", "change": "Mudar o papel", "remove": "Remover"},
}


def is_focused(locator: Any) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def tab_to(page: Any, locator: Any, limit: int = 60) -> None:
    """Press Tab until ``locator`` has the focus (as a keyboard user gets there)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if is_focused(locator):
            return
    raise AssertionError(f"Tab never reached {locator}")


@pytest.mark.parametrize("locale", LOCALES)
def test_a_team_workspace_is_created_and_chosen_in_the_header_by_keyboard_alone(
    signed_in_page: Any, live_server_url: str, owner: User, locale: str
) -> None:
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/workspaces/")
    assert_accessible(page)
    # A bad short name first: the error summary takes the focus and names the field.
    tab_to(page, page.locator("#id_name"))
    page.keyboard.type("Research lab")
    page.keyboard.press("Tab")
    page.keyboard.type("Not Valid")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-error-summary]")
    assert is_focused(page.locator("[data-error-summary]"))
    assert page.title().startswith("Erro:" if locale == "pt-BR" else "Error:")
    assert_accessible(page)
    page.locator("#id_slug").fill("")
    page.locator("#id_slug").press("Enter")
    page.wait_for_url(f"{live_server_url}/workspaces/research-lab/")
    workspace = Workspace.objects.get(slug="research-lab")
    assert workspace.role_of(owner) == Role.OWNER
    assert is_focused(page.locator("[data-messages]"))
    assert_accessible(page)

    # The switcher, by keyboard: the new workspace is current (its page was opened).
    page.goto(f"{live_server_url}/")
    toggle = page.locator(".workspace-switcher__toggle")
    assert "Research lab" in toggle.inner_text()
    tab_to(page, toggle)
    page.keyboard.press("Enter")
    assert page.locator("details.workspace-switcher").get_attribute("open") is not None
    assert_accessible(page)
    current = page.locator(".workspace-switcher__panel a[aria-current='true']")
    assert current.inner_text() == "Research lab"
    personal = page.locator(".workspace-switcher__panel a", has_text=WORDS[locale]["personal"])
    tab_to(page, personal)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server_url}{Workspace.objects.personal_for(owner).get_absolute_url()}")
    assert_accessible(page)
    assert WORDS[locale]["personal"] in page.locator(".workspace-switcher__toggle").inner_text()
    assert (
        page.locator(".workspace-switcher__panel a[aria-current='true']").text_content()
        == WORDS[locale]["personal"]  # in the closed panel
    )
    # And back to the list, from the switcher's last link.
    page.locator(".workspace-switcher__toggle").focus()
    page.keyboard.press("Enter")
    tab_to(page, page.locator(".workspace-switcher__panel a[href='/workspaces/']"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server_url}/workspaces/")
    assert page.get_by_role("cell", name="1", exact=True).count() == 2  # one member in each
    assert_accessible(page)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_owner_changes_a_role_by_keyboard_and_visits_each_page(
    signed_in_page: Any, live_server_url: str, owner: User, other_user: User, locale: str
) -> None:
    workspace = services.create_team_workspace(owner, "Support team", "support")
    row = Membership.objects.create(workspace=workspace, user=other_user, role=Role.MEMBER)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/workspaces/support/")
    assert_accessible(page)
    page.get_by_role("link", name=WORDS[locale]["members"], exact=True).click()
    page.wait_for_url(f"{live_server_url}/workspaces/support/members/")
    assert_accessible(page)

    select = page.locator(f"#id_m{row.pk}-role")
    tab_to(page, select)
    page.keyboard.press("ArrowDown")  # Member → Editor
    wait_until(lambda: select.input_value() == "editor", timeout=5)
    page.keyboard.press("Tab")
    button = page.get_by_role(
        "button", name=f"{WORDS[locale]['change']} {'de' if locale == 'pt-BR' else 'of'} {other_user.email}"
    )
    assert is_focused(button)
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-messages]")
    assert is_focused(page.locator("[data-messages]"))
    wait_until(lambda: Membership.objects.get(pk=row.pk).role == Role.EDITOR)
    assert page.locator(f"#id_m{row.pk}-role").input_value() == "editor"
    assert_accessible(page)

    # The confirmation pages and the settings, each checked by axe-core.
    remove = page.get_by_role("link", name=f"{WORDS[locale]['remove']} {other_user.email}")
    remove.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/members/{row.pk}/remove/")
    assert_accessible(page)
    page.go_back()
    for path in ("transfer/", "settings/", "delete/"):
        page.goto(f"{live_server_url}/workspaces/support/{path}")
        assert_accessible(page)
    # The hand-over, by keyboard: the one other member's radio, then the button.
    page.goto(f"{live_server_url}/workspaces/support/transfer/")
    radio = page.locator("#id_new_owner_0")
    tab_to(page, radio)
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server_url}/workspaces/support/members/")
    wait_until(lambda: Membership.objects.get(pk=row.pk).role == Role.OWNER)
    assert Membership.objects.get(workspace=workspace, user=owner).role == Role.ADMIN
    assert_accessible(page)


def open_without_console_checks(browser: Any, live_server_url: str, user: User, locale: str) -> Any:
    """A page signed in as ``user`` whose console is not watched: a 403 page is meant to
    answer 403, which Chromium logs as a console error (``signed_in_page`` fails on any)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    context = browser.new_context(locale=locale)
    host = live_server_url.split("//")[1].split(":")[0]
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "domain": host, "path": "/"}]
    )
    return context


@pytest.mark.parametrize("locale", LOCALES)
def test_a_member_sees_a_forbidden_page_and_the_leave_confirmation(
    signed_in_page: Any, browser: Any, live_server_url: str, owner: User, other_user: User, locale: str
) -> None:
    workspace = services.create_team_workspace(owner, "Support team", "support")
    Membership.objects.create(workspace=workspace, user=other_user, role=Role.MEMBER)
    context = open_without_console_checks(browser, live_server_url, other_user, locale)
    try:
        forbidden = context.new_page()
        response = forbidden.goto(f"{live_server_url}/workspaces/support/settings/")
        assert response.status == 403
        expected = (
            "Seu papel neste espaço de trabalho" if locale == "pt-BR" else "Your role in this workspace"
        )
        assert expected in forbidden.inner_text("main")
        assert_accessible(forbidden)
    finally:
        context.close()
    page = signed_in_page(other_user, locale)
    page.goto(f"{live_server_url}/workspaces/support/members/")
    assert_accessible(page)
    page.goto(f"{live_server_url}/workspaces/support/leave/")
    assert_accessible(page)
    page.locator("main form button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server_url}/workspaces/")
    wait_until(lambda: workspace.role_of(User.objects.get(pk=other_user.pk)) is None)
    assert_accessible(page)
