"""A workspace's audit log in a real browser (headless Chromium, axe-core on every page
visited): filtered by keyboard only, a failed filter's error summary, the CSV link keeping
the filter, in English and Portuguese."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from audit.models import Action
from audit.services import record
from workspaces import services
from workspaces.models import Membership, Role, Workspace

from .conftest import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = {
    "en-US": {"budget": "Budget changed", "error": "There is a problem"},
    "pt-BR": {"budget": "Orçamento alterado", "error": "Há um problema"},
}


@pytest.fixture
def team(owner: User) -> Workspace:
    workspace = services.create_team_workspace(owner, "Acme", "acme")
    admin = User.objects.create_user("admin@example.com", "correct horse battery")
    Membership.objects.create(workspace=workspace, user=admin, role=Role.ADMIN)
    record(Action.BUDGET_CHANGED, workspace=workspace, actor=admin, target_text="Monthly budget")
    return workspace


def tab_to(page: Any, selector: str) -> None:
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable by Tab")


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_the_log_is_filtered_by_keyboard_only(
    signed_in_page: Any, live_server_url: str, owner: User, team: Workspace, locale: str
) -> None:
    words = WORDS[locale]
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/workspaces/acme/audit/")
    assert_accessible(page)
    rows = page.locator("table tbody tr")
    assert rows.count() == 4  # created, the owner and the admin joined, the budget

    tab_to(page, "#id_action")
    page.keyboard.type(words["budget"])  # a closed select's type-ahead picks the option
    assert page.locator("#id_action").input_value() == "budget_changed"
    tab_to(page, "#id_person")
    page.keyboard.type("admin@")
    assert page.locator("#id_person").input_value() == "admin@example.com"
    tab_to(page, "form[role=search] button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/audit/?action=budget_changed&person=admin%40example.com**")
    assert rows.count() == 1
    assert words["budget"] in rows.first.inner_text() and "admin@example.com" in rows.first.inner_text()
    csv_link = page.locator("a[download]").get_attribute("href")
    assert "export.csv?action=budget_changed&person=admin%40example.com" in csv_link
    assert_accessible(page)


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_a_wrong_date_range_shows_the_error_summary(
    signed_in_page: Any, live_server_url: str, owner: User, team: Workspace, locale: str
) -> None:
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/workspaces/acme/audit/?date_from=2026-02-01&date_to=2026-01-01")
    summary = page.locator("[data-error-summary]")
    assert WORDS[locale]["error"] in summary.inner_text()
    assert page.title().startswith("Erro:" if locale == "pt-BR" else "Error:")
    assert page.locator("#id_date_to_error").is_visible()
    assert_accessible(page)
