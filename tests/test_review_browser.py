"""A version's review in a real browser, keyboard only, axe-core on every page: an editor
proposes from the history, an admin reads the changes, asks for changes, then approves."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from templates_app.models import ReviewState, Template
from workspaces.models import Membership, Role
from workspaces.services import create_team_workspace

from .conftest import assert_accessible, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WORDS = {
    "en-US": {"propose": "Publish version 2", "changes": "Ask for changes", "approve": "Approve and publish"},
    "pt-BR": {
        "propose": "Publicar a versão 2",
        "changes": "Pedir alterações",
        "approve": "Aprovar e publicar",
    },
}


def _press_button(page: Any, name: str) -> None:
    """Tab to the button (keyboard only) and press Enter."""
    button = page.get_by_role("button", name=name)
    for _ in range(80):
        if button.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError(f"Tab never reached {name!r}")
    with page.expect_navigation():  # every step is a form's POST and its answer
        page.keyboard.press("Enter")


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_propose_ask_for_changes_and_approve_by_keyboard(
    signed_in_page: Any, live_server_url: str, locale: str
) -> None:
    owner = User.objects.create_user("lead@example.com", "correct horse battery")
    editor = User.objects.create_user("writer@example.com", "correct horse battery")
    workspace = create_team_workspace(owner, "Docs")
    workspace.review_required = True
    workspace.save()
    Membership.objects.create(workspace=workspace, user=editor, role=Role.EDITOR)
    template = Template.objects.create(slug="notes", name="Notes", owner=editor, workspace=workspace)
    parameters = [{"name": "topic", "type": "string", "label": "Topic"}]
    template.save_content(
        {"body": "About {{ topic }}.", "parameters": parameters}, author=owner, publish=True
    )
    template.save_content({"body": "All about {{ topic }}."}, author=editor, publish=False)
    words = WORDS[locale]

    page = signed_in_page(editor, locale)
    page.goto(f"{live_server_url}/t/notes/history/")
    assert_accessible(page)
    _press_button(page, words["propose"])
    assert_accessible(page)
    version = template.versions.get(number=2)
    version.refresh_from_db()
    assert version.review_state == ReviewState.PROPOSED

    reviewer = signed_in_page(owner, locale)
    reviewer.goto(f"{live_server_url}/t/notes/v2/review/")
    assert_accessible(reviewer)
    assert reviewer.locator("ins", has_text="All about {{ topic }}.").count() == 1
    # Asking for changes without saying which: the error summary takes focus.
    _press_button(reviewer, words["changes"])
    summary = reviewer.locator("[data-error-summary]")
    summary.wait_for()
    assert_accessible(reviewer)
    wait_until(lambda: summary.evaluate("element => element === document.activeElement"))
    # Its link leads to the comment field, by keyboard.
    reviewer.keyboard.press("Tab")
    reviewer.keyboard.press("Enter")
    wait_until(lambda: reviewer.evaluate("() => document.activeElement.name") == "comment")
    reviewer.keyboard.type("Name the release.")
    _press_button(reviewer, words["changes"])
    reviewer.locator("[data-review-action=changes_requested]").wait_for()
    assert_accessible(reviewer)

    # The editor proposes again from the review page; the owner approves.
    page.goto(f"{live_server_url}/t/notes/v2/review/")
    assert page.get_by_role("button", name=words["approve"]).count() == 0
    page.locator("textarea[name=comment]").focus()
    page.keyboard.type("Done.")
    _press_button(page, {"en-US": "Propose for review", "pt-BR": "Propor para revisão"}[locale])
    page.locator("[data-review-state=proposed]").wait_for()
    assert_accessible(page)

    reviewer.goto(f"{live_server_url}/t/notes/v2/review/")
    _press_button(reviewer, words["approve"])
    reviewer.locator("[data-review-action=approved]").wait_for()
    assert_accessible(reviewer)
    wait_until(lambda: Template.objects.get(pk=template.pk).published_version.number == 2)
