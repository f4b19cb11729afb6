"""Generated forms are accessible by construction: axe-core over every demo form,
empty, filled and with errors, in English and in Portuguese; and a submission
made with the keyboard alone, with a visible focus ring at every stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from jobs.models import Job
from templates_app.demo import demo_templates
from templates_app.formats.base import ImportedTemplate

from .conftest import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = {"en-US": "en", "pt-BR": "pt-br"}
# A value that passes each demo parameter's constraints, by name, then by type.
GOOD_BY_NAME = {"ticket_id": "ABC-123", "fields": '["total"]'}
GOOD_BY_TYPE = {
    "string": "Aurora lamp",
    "text": "Warm light, dimmable, and made to last for years.",
    "email": "ana@example.com",
    "url": "https://example.com/checkout",
    "date": "2025-03-15",
    "json": '["name", "total"]',
}
BAD_BY_TYPE = {"email": "ana at example", "url": "example dot com", "date": "", "json": "[1,", "string": ""}


@pytest.fixture
def demo(db: None) -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture
def open_page(signed_in_page: Any) -> Any:
    """Open anonymous pages; any console error (a CSP violation, a script error) fails the test."""
    return lambda locale="en-US": signed_in_page(None, locale)


def fill(page: Any, parameters: list[dict[str, Any]], tmp_path: Path, *, bad: bool = False) -> None:
    """Enter a value in every visible control (invalid ones where ``bad``)."""
    for parameter in parameters:
        if parameter.get("hidden"):
            continue
        name, kind = parameter["name"], parameter["type"]
        control = page.locator(f'[name="{name}"]')
        if kind == "file":
            if not bad:
                path = tmp_path / f"{name}.txt"
                path.write_text("Invoice 42\nTotal: 12.50\n")
                control.set_input_files(path)
        elif kind == "boolean":
            control.check()
        elif kind in ("choice", "multichoice"):
            if control.first.get_attribute("type") in ("radio", "checkbox"):
                control.last.check()
            else:
                control.select_option(parameter["choices"][-1]["value"])
        elif kind in ("integer", "number"):
            control.fill("100000" if bad else str(parameter.get("default", parameter.get("min", 1))))
        elif bad and kind in BAD_BY_TYPE:
            control.fill(BAD_BY_TYPE[kind])
        else:
            control.fill(GOOD_BY_NAME.get(name, GOOD_BY_TYPE[kind]))


@pytest.mark.parametrize("locale", list(LANGUAGES))
@pytest.mark.parametrize("demo_template", demo_templates(), ids=[d.slug for d in demo_templates()])
def test_every_demo_form_passes_axe_empty_filled_and_with_errors(
    open_page: Any,
    demo: None,
    live_server_url: str,
    demo_template: ImportedTemplate,
    locale: str,
    tmp_path: Path,
) -> None:
    page = open_page(locale)
    page.goto(f"{live_server_url}/t/{demo_template.slug}/")
    assert page.locator("html").get_attribute("lang") == LANGUAGES[locale]
    assert_accessible(page)  # empty
    fill(page, demo_template.parameters, tmp_path)
    assert_accessible(page)  # filled
    page.goto(f"{live_server_url}/t/{demo_template.slug}/")
    fill(page, demo_template.parameters, tmp_path, bad=True)
    page.locator("form.parameter-form button[type=submit]").click()
    page.wait_for_load_state()
    summary = page.locator("[data-error-summary]")
    assert summary.is_visible()
    assert summary.evaluate("element => element === document.activeElement")
    assert page.title().startswith("Error:" if locale == "en-US" else "Erro:")
    # Every error is tied to its control, which says it is invalid.
    for link in summary.locator("a").all():
        target = page.locator(link.get_attribute("href"))
        fieldset = target.locator("xpath=ancestor::fieldset[contains(@class, 'fieldset')][1]")
        owner = fieldset if fieldset.count() else target
        assert "_error" in (owner.get_attribute("aria-describedby") or ""), link.get_attribute("href")
        if not fieldset.count():
            assert target.get_attribute("aria-invalid") == "true"
    assert_accessible(page)  # with errors
    assert Job.objects.count() == 0


def test_error_summary_links_move_focus_to_each_kind_of_field(
    open_page: Any, demo: None, live_server_url: str
) -> None:
    page = open_page("en-US")
    page.goto(f"{live_server_url}/t/support-ticket/")
    page.locator('[name="reporter_email"]').fill("nope")
    page.locator("form.parameter-form button[type=submit]").click()
    page.wait_for_load_state()
    summary = page.locator("[data-error-summary]")
    hrefs = [link.get_attribute("href") for link in summary.locator("a").all()]
    assert {"#id_reporter_email", "#id_areas_0", "#id_happened_on", "#id_description"} <= set(hrefs)
    for href in hrefs:
        summary.locator(f'a[href="{href}"]').click()
        assert page.locator(href).evaluate("element => element === document.activeElement"), href


def focused(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return {tag: el.tagName.toLowerCase(), type: el.type || '', name: el.name || '',
                    text: el.textContent.trim(),
                    ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2};
        }"""
    )


def test_a_form_can_be_filled_and_submitted_with_the_keyboard_alone(
    open_page: Any, demo: None, live_server_url: str
) -> None:
    """Tab, Space, Enter, arrow keys and typing only: no clicks, no scripted values."""
    page = open_page("en-US")
    page.goto(f"{live_server_url}/t/support-ticket/")
    typed = {
        "reporter_email": "ana@example.com",
        "ticket_id": "ABC-42",
        "description": "I clicked Pay and nothing happened.",
        "happened_on": "03152025",  # en-US date segments: mm, dd, yyyy
        "page_url": "https://example.com/pay",
    }
    done: set[str] = set()
    for _stop in range(80):
        page.keyboard.press("Tab")
        state = focused(page)
        if state["tag"] != "body":
            assert state["ring"], f"no visible focus ring on {state}"
        name = state["name"]
        if name in typed and name not in done:
            page.keyboard.type(typed[name])
            done.add(name)
        elif name == "areas" and "areas" not in done:
            page.keyboard.press("Space")  # tick the first area
            done.add("areas")
        elif name == "severity" and "severity" not in done:
            page.keyboard.press("ArrowDown")  # medium → high
            done.add("severity")
        elif state["tag"] == "button" and state["text"] == "Generate":
            page.keyboard.press("Enter")
            break
    page.wait_for_url("**/jobs/*/")
    job = Job.objects.get()
    assert job.inputs["areas"] == ["billing"]
    assert job.inputs["severity"] == "high"
    assert job.inputs["happened_on"] == "2025-03-15"
    assert job.inputs["ticket_format"] == "Markdown"  # the hidden, fixed value
    assert_accessible(page)
