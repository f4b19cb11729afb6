"""The editor's steps preview in Chromium (issue 15), by keyboard alone: steps typed into the
code editor show as stages (what runs in parallel, what after what), the result step is
marked, and the page passes axe in both languages."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# One line (flow style): typed key by key, with no new line for the editor to indent.
STEPS = (
    '[{name: intro, body: "Open on {{ topic }}."}, {name: facts, body: "{{ count }} facts on {{ topic }}."}, '
    '{name: post, kind: transform, needs: [intro, facts], body: "steps.intro.output ~ steps.facts.output"}]'
)
IN_STEPS = "() => !!document.activeElement.closest(\"[data-code-editor-for='id_editor-steps']\")"
IN_CODE = "() => document.activeElement.classList.contains('cm-content')"


def tab_until(page: Any, arrived: str, *, limit: int = 80) -> None:
    """Tab through the page until ``arrived`` holds, leaving each other code editor as its
    hint says (Escape, then Tab): no clicks."""
    for _ in range(limit):
        if page.evaluate(arrived):
            return
        if page.evaluate(IN_CODE):
            page.keyboard.press("Escape")
        page.keyboard.press("Tab")
    raise AssertionError(f"never reached: {arrived}")


@pytest.mark.parametrize(
    ("locale", "parallel", "result"),
    [("en-US", "2 steps, in parallel", "its output is the run's output"),
     ("pt-BR", "2 etapas, em paralelo", "seu resultado é o resultado da execução")],
)  # fmt: skip
def test_the_steps_preview_follows_typing_by_keyboard_alone(
    signed_in_page, live_server_url: str, make_template, owner, locale: str, parallel: str, result: str
) -> None:
    template = make_template(owner=owner)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/t/{template.slug}/edit/")
    page.locator("[data-code-editor-for='id_editor-steps'] .cm-content").wait_for()
    assert page.locator("[data-steps-preview]").count() == 0
    assert_accessible(page)

    tab_until(page, IN_STEPS)
    page.keyboard.type(STEPS)
    page.wait_for_function(
        "() => document.querySelector(\"[data-step-level='2'] [data-step='post']\") !== null"
    )
    first = page.locator("[data-step-level='1']")
    assert first.locator("[data-step]").all_inner_texts()[0].startswith("intro")
    assert [item.get_attribute("data-step") for item in first.locator("[data-step]").all()] == [
        "intro",
        "facts",
    ]
    assert parallel in first.inner_text()
    assert "intro" in page.locator("[data-step-level='2'] [data-step='post']").inner_text()
    assert_accessible(page)

    # On to the result step (Escape, then Tab leaves the code editor), and name the first step.
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "id_editor-result_step"
    page.keyboard.type("intro")
    page.wait_for_function(
        "text => (document.querySelector(\"[data-step='intro']\") || {}).textContent?.includes(text)",
        arg=result,
    )
    assert result not in page.locator("[data-step='post']").inner_text()
    assert_accessible(page)

    # Enter saves (the form's first button: a draft), with the steps as typed.
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/t/{template.slug}/history/")
    assert_accessible(page)
    latest = template.versions.order_by("-number").first()
    assert [step["name"] for step in latest.steps] == ["intro", "facts", "post"]
    assert latest.result_step == "intro"
