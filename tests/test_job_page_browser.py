"""The job page in a real browser, by keyboard alone, in both languages, and without
JavaScript; axe-core on every page visited."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from jobs.models import Job, JobStatus

from .conftest import assert_accessible, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = ["en-US", "pt-BR"]
TEXT = {
    "en-US": {
        "cancel": "Cancel job",
        "cancelled": "Cancelled",
        "announced": "Job finished: Succeeded.",
        "copy": "Copy answer",
        "copied": "Copied",
        "raw": "Show raw text",
        "again": "Run again with these inputs",
    },
    "pt-BR": {
        "cancel": "Cancelar execução",
        "cancelled": "Cancelado",
        "announced": "Execução concluída.",
        "copy": "Copiar resposta",
        "copied": "Copiado",
        "raw": "Mostrar texto bruto",
        "again": "Executar de novo com estas entradas",
    },
}
TERMINAL = (
    "['succeeded', 'failed', 'cancelled'].includes(document.querySelector('#job-summary').dataset.jobStatus)"
)


def tab_to(page: Any, matches: str, *, limit: int = 60) -> None:
    """Press Tab until the focused element satisfies ``matches`` (a JS expression on ``el``)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return !!el && ({matches}); }}"):
            return
    raise AssertionError(f"Tab never reached an element where {matches}")


def focused_text(text: str) -> str:
    return f"el.textContent.trim() === {text!r}"


def submit_by_keyboard(page: Any, base_url: str, slug: str, topic: str) -> None:
    page.goto(f"{base_url}/t/{slug}/")
    assert_accessible(page)
    tab_to(page, "el.id === 'id_topic'")
    page.keyboard.type(topic)
    tab_to(page, "el.type === 'submit' && el.closest('form.parameter-form') !== null")
    page.keyboard.press("Enter")
    page.wait_for_url("**/jobs/*/")


def finished_job(template: Any, owner: Any, **fields: Any) -> Job:
    values: dict[str, Any] = {
        "inputs": {"topic": "autumn", "count": 4},
        "input_hash": "y" * 64,
        "prompt": "Write 4 lines about autumn.",
        "provider": "offline",
        "model": "offline-echo",
        "status": JobStatus.SUCCEEDED,
        "output": "# Autumn\n\nLeaves **fall**.",
        "input_tokens": 6,
        "output_tokens": 5,
        "cost": Decimal("0"),
        "attempts": 1,
    }
    return Job.objects.create(
        template_version=template.published_version, owner=owner, **{**values, **fields}
    )


@pytest.mark.parametrize("locale", LANGUAGES)
def test_keyboard_only_cancel_of_a_running_job_keeps_focus_through_live_updates(
    signed_in_page, make_template, owner, live_server_url, locale
) -> None:
    text = TEXT[locale]
    make_template(
        slug="long", body="Write {{ count }} lines about {{ topic }}. " + "Please elaborate. " * 300
    )
    page = signed_in_page(owner, locale)
    submit_by_keyboard(page, live_server_url, "long", "autumn")
    page.wait_for_function("() => document.querySelector('#job-output').textContent.length > 0")
    assert_accessible(page)
    tab_to(page, focused_text(text["cancel"]))
    page.evaluate("() => { document.activeElement.dataset.focusMark = 'yes'; }")
    length = page.evaluate("() => document.querySelector('#job-output').textContent.length")
    # Several live updates later (the output grew by a good part), focus has not moved.
    page.wait_for_function(f"() => document.querySelector('#job-output').textContent.length > {length + 150}")
    assert page.evaluate("() => document.activeElement.dataset.focusMark === 'yes'")
    assert page.evaluate(f"() => !({TERMINAL})")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#job-summary').dataset.jobStatus === 'cancelled'")
    assert text["cancelled"] in page.locator("#job-summary").inner_text()
    assert Job.objects.get().status == JobStatus.CANCELLED
    assert_accessible(page)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_the_end_is_announced_once_in_a_live_region_that_was_there_before(
    signed_in_page, make_template, owner, live_server_url, locale
) -> None:
    make_template(slug="medium", body="Write {{ count }} lines about {{ topic }}. " + "More, please. " * 40)
    page = signed_in_page(owner, locale)
    submit_by_keyboard(page, live_server_url, "medium", "rain")
    announcer = page.locator("#job-announcer")
    assert announcer.get_attribute("role") == "status" and announcer.text_content() == ""
    page.evaluate(
        """() => {
            window.__announcer = document.getElementById('job-announcer');
            window.__announcements = [];
            window.__lengths = [];
            new MutationObserver(() => window.__announcements.push(window.__announcer.textContent))
                .observe(window.__announcer, {childList: true, characterData: true, subtree: true});
            new MutationObserver(() => {
                const output = document.getElementById('job-output');
                if (output) window.__lengths.push(output.textContent.length);
            }).observe(document.getElementById('job'), {childList: true, characterData: true, subtree: true});
        }"""
    )
    page.wait_for_function(f"() => {TERMINAL}", timeout=30_000)
    page.wait_for_function("() => window.__announcements.length > 0")
    assert page.evaluate(
        "() => window.__announcer.isConnected"
        " && window.__announcer === document.getElementById('job-announcer')"
    )
    assert page.evaluate("() => window.__announcements") == [TEXT[locale]["announced"]]
    job = Job.objects.get()
    assert page.locator("#job-output").text_content() == job.output
    # The text arrived in steps, with Redis or without (the embedded mode polls quickly).
    lengths = sorted(set(page.evaluate("() => window.__lengths")))
    assert len([n for n in lengths if 0 < n < len(job.output)]) >= 3, lengths
    assert_accessible(page)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_the_copy_button_works_by_keyboard_and_says_copied(
    signed_in_page, make_template, owner, live_server_url, locale
) -> None:
    text = TEXT[locale]
    job = finished_job(make_template(), owner)
    page = signed_in_page(owner, locale, permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"{live_server_url}{job.get_absolute_url()}")
    assert_accessible(page)
    tab_to(page, focused_text(text["copy"]))
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.getElementById('job-copy').textContent === {text['copied']!r}")
    assert page.locator("#job-copy-status").text_content() == text["copied"]
    assert page.evaluate("() => navigator.clipboard.readText()") == job.output
    assert_accessible(page)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_hostile_markdown_is_rendered_sanitized_and_the_raw_text_is_a_keyboard_toggle_away(
    signed_in_page, make_template, owner, live_server_url, locale
) -> None:
    hostile = (
        "# Report\n\n**Important** point.\n\n"
        "<script>window.__xss = 1</script>\n\n"
        '<img src="/x" onerror="window.__xss = 2">\n\n'
        '[click](javascript:window.__xss=3) and <a href="javascript:window.__xss=4">raw</a>\n'
    )
    job = finished_job(make_template(), owner, output=hostile)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}{job.get_absolute_url()}")
    answer = page.locator("#job-answer")
    assert answer.locator("h1").inner_text() == "Report"
    assert answer.locator("strong").inner_text() == "Important"
    assert answer.locator("script, img, [onerror]").count() == 0
    assert answer.locator("a[href^='javascript']").count() == 0
    assert page.evaluate("() => window.__xss === undefined")
    assert page.locator("#job-raw").is_hidden()
    assert_accessible(page)
    tab_to(page, focused_text(TEXT[locale]["raw"]))
    page.keyboard.press("Space")
    assert page.locator("#job-view-toggle").get_attribute("aria-pressed") == "true"
    assert page.locator("#job-raw").is_visible() and answer.is_hidden()
    assert page.locator("#job-output").text_content() == hostile
    assert page.evaluate("() => window.__xss === undefined")
    assert_accessible(page)
    page.keyboard.press("Enter")
    assert answer.is_visible() and page.locator("#job-raw").is_hidden()


@pytest.mark.parametrize("locale", LANGUAGES)
def test_run_again_opens_the_form_filled_with_the_inputs_to_edit(
    signed_in_page, make_template, owner, live_server_url, locale
) -> None:
    job = finished_job(make_template(), owner)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}{job.get_absolute_url()}")
    tab_to(page, focused_text(TEXT[locale]["again"]))
    page.keyboard.press("Enter")
    page.wait_for_url("**/t/haiku/?from_job=*")
    assert page.locator("#id_topic").input_value() == "autumn"
    assert page.locator("#id_count").input_value() == "4"
    assert_accessible(page)
    page.locator("#id_topic").fill("winter")
    page.locator("form.parameter-form button[type=submit]").click()
    page.wait_for_url("**/jobs/*/")
    new = Job.objects.exclude(pk=job.pk).get()
    assert new.inputs == {"topic": "winter", "count": 4}
    page.wait_for_function(f"() => {TERMINAL}", timeout=30_000)
    assert_accessible(page)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_without_javascript_the_job_page_refreshes_until_the_final_output(
    signed_in_page, make_template, owner, live_server_url, locale
) -> None:
    make_template(slug="medium", body="Write {{ count }} lines about {{ topic }}. " + "More, please. " * 60)
    page = signed_in_page(owner, locale, java_script_enabled=False)
    page.goto(f"{live_server_url}/t/medium/")
    page.locator("#id_topic").fill("fog")
    page.locator("form.parameter-form button[type=submit]").click()
    page.wait_for_url("**/jobs/*/")
    job = Job.objects.get()
    assert not job.is_terminal, "the job ended before its page was seen running"
    assert page.locator("noscript").count() >= 1
    # Nothing clicked: the page reloads itself until the job has ended.
    page.wait_for_selector("#job-summary[data-job-status=succeeded]", timeout=40_000)
    job = wait_until(lambda: Job.objects.filter(pk=job.pk, status=JobStatus.SUCCEEDED).first())
    assert page.locator("#job-output").text_content() == job.output
    assert page.locator("#job-answer").is_visible()  # both views, without the script
    assert page.locator("#job-copy").is_hidden()  # a button that could not work is not offered
    # No axe here: axe-core is a script, and this browser runs none. The same page, with
    # the script, is checked by every other test in this module.
