"""Budgets in the browser: the form page's balance and warning, the budgets page edited
with the keyboard alone, both accessible in English and Portuguese."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from accounts.models import User
from budgets import services
from budgets.models import Budget
from templates_app.models import Template, Visibility
from workspaces.models import Membership, Role
from workspaces.services import create_team_workspace

from .conftest import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def tab_to(page: Any, element_id: str, presses: int = 60) -> None:
    """Press Tab until the element has the focus (the keyboard's way there)."""
    for _press in range(presses):
        if page.evaluate("() => document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


@pytest.fixture
def team_template(owner: User) -> Template:
    team = create_team_workspace(owner, "Budget team")
    template = Template.objects.create(
        slug="budgeted", name="Budgeted", owner=owner, visibility=Visibility.PUBLIC, workspace=team
    )
    template.create_version(
        body="Write about {{ topic }}.",
        parameters=[{"name": "topic", "type": "string", "label": "Topic", "max_length": 50}],
        max_tokens=10,
    )
    return template


@pytest.mark.parametrize(("locale", "line", "warning"), [
    ("en-US", "Budget left this month: 10 tokens", "90% of a monthly budget is used"),
    ("pt-BR", "Orçamento restante neste mês: 10 tokens", "90% de um orçamento mensal já foi usado"),
])  # fmt: skip
def test_the_form_page_shows_the_balance_and_the_warning(
    signed_in_page, live_server_url: str, team_template: Template, owner: User, locale: str, line: str,
    warning: str,
) -> None:  # fmt: skip
    team = team_template.workspace
    Budget.objects.create(workspace=team, token_limit=100)
    services.reserve(
        uuid.uuid4(), workspace_id=team.pk, user_id=owner.pk, provider="offline", model="offline-echo",
        prompt_tokens=80, max_tokens=10,
    )  # fmt: skip
    page = signed_in_page(owner, locale)
    page.goto(live_server_url + team_template.get_absolute_url())
    assert line in page.locator("#budget-remaining").inner_text()
    status = page.locator("#budget-warning")
    assert status.get_attribute("role") == "status" and warning in status.inner_text()
    assert_accessible(page)


@pytest.mark.parametrize(("locale", "saved"), [
    ("en-US", "The budget of other@example.com was saved."),
    ("pt-BR", "O orçamento de other@example.com foi salvo."),
])  # fmt: skip
def test_the_budgets_page_is_edited_with_the_keyboard_alone(
    signed_in_page, live_server_url: str, team_template: Template, owner: User, other_user: User,
    locale: str, saved: str,
) -> None:  # fmt: skip
    team = team_template.workspace
    Membership.objects.create(workspace=team, user=other_user, role=Role.MEMBER)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/workspaces/{team.slug}/budgets/")
    assert_accessible(page)
    # A bad value first: the error summary, focused, names the field.
    tab_to(page, "id_workspace-token_limit")
    page.keyboard.type("-5")
    page.keyboard.press("Enter")
    page.wait_for_selector(".error-summary")
    assert_accessible(page)
    assert page.title().startswith("Error:" if locale == "en-US" else "Erro:")
    tab_to(page, "id_workspace-token_limit")
    page.keyboard.press("Control+A")
    page.keyboard.type("5000")
    page.keyboard.press("Enter")
    page.wait_for_selector(".message--success")
    assert Budget.objects.get(workspace=team, member__isnull=True).token_limit == 5000
    # A member's budget: the member chosen with the arrow keys.
    tab_to(page, "id_member-member_choice")
    page.keyboard.press("ArrowDown")
    tab_to(page, "id_member-token_limit")
    page.keyboard.type("700")
    page.keyboard.press("Enter")
    page.wait_for_selector(".message--success")
    assert saved in page.locator(".messages").inner_text()
    assert Budget.objects.get(workspace=team, member__isnull=False).token_limit == 700
    assert_accessible(page)
