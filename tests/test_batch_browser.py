"""Batches in a real browser, by keyboard, in both languages: upload a file, map a
column, review, run, watch the progress bar advance without a reload (the page's event
stream), download the results; axe-core on every batch page."""

from __future__ import annotations

import io
from typing import Any

import pytest

from batches.models import Batch, BatchState
from batches.services import ConfigurationSpec, create_batch

from .conftest import assert_accessible, wait_until
from .test_job_page_browser import focused_text, tab_to

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = ["en-US", "pt-BR"]
TEXT = {
    "en-US": {
        "run_on_file": "Run on a file",
        "check": "Check the rows",
        "topic": "Topic (topic)",
        "run": "Run the 4 rows",
        "csv": "CSV (.csv)",
        "ended": "Batch ended",
    },
    "pt-BR": {
        "run_on_file": "Executar com um arquivo",
        "check": "Verificar as linhas",
        "topic": "Assunto (topic)",
        "run": "Executar as 4 linhas",
        "csv": "CSV (.csv)",
        "ended": "Lote terminado",
    },
}
# Long enough that each row takes a good part of a second on the test worker's offline model.
BODY = "Write {{ count }} lines about {{ topic }}. " + "More, please. " * 20
ROWS = "Subject,count\n" + "".join(
    f"{topic},{n}\n" for n, topic in enumerate(["fog", "rain", "snow", "hail"], 1)
)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_upload_map_run_and_download_by_keyboard_with_live_progress(
    signed_in_page, make_template, owner, live_server_url, locale, tmp_path
) -> None:
    text = TEXT[locale]
    make_template(slug="weather", body=BODY)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/t/weather/")
    tab_to(page, focused_text(text["run_on_file"]))
    page.keyboard.press("Enter")
    page.wait_for_url("**/t/weather/batch/")
    assert_accessible(page)
    # Choosing a file is the one thing done without the keyboard (the system's file dialog).
    page.locator("#id_file").set_input_files(
        {"name": "weather.csv", "mimeType": "text/csv", "buffer": ROWS.encode()}
    )
    tab_to(page, "el.id === 'id_concurrency'")
    page.keyboard.type("1")  # one row at a time: the bar moves in steps
    tab_to(page, focused_text(text["check"]))
    page.keyboard.press("Enter")
    page.wait_for_url("**/mapping/")
    assert_accessible(page)
    tab_to(page, "el.id === 'id_column_0'")
    page.keyboard.type(text["topic"])
    assert page.locator("#id_column_0").input_value() == "topic"
    tab_to(page, focused_text(text["check"]))
    page.keyboard.press("Enter")
    page.wait_for_url("**/review/")
    assert_accessible(page)
    tab_to(page, focused_text(text["run"]))
    page.keyboard.press("Enter")
    page.wait_for_url("**/batches/*/")
    batch = Batch.objects.get()
    page.evaluate(
        """() => {
            window.__notReloaded = true;
            window.__seen = [];
            new MutationObserver(() => {
                const bar = document.getElementById('batch-progress-bar');
                if (bar) window.__seen.push(Number(bar.value));
            }).observe(document.getElementById('batch-live'), {childList: true, subtree: true});
        }"""
    )
    assert_accessible(page)
    page.wait_for_function(
        "() => document.getElementById('batch-progress').dataset.state === 'finished'", timeout=60_000
    )
    assert page.evaluate("() => window.__notReloaded")
    seen = sorted(set(page.evaluate("() => window.__seen")))
    assert seen[-1] == 4 and any(0 < value < 4 for value in seen), seen
    page.wait_for_function("() => document.getElementById('batch-announcer').textContent.length > 0")
    assert text["ended"] in page.locator("#batch-announcer").text_content()
    assert Batch.objects.get(pk=batch.pk).state == BatchState.FINISHED
    assert page.locator("#batch-rows a[href^='/jobs/']").count() == 4
    assert_accessible(page)
    tab_to(page, f"el.id === 'batch-download-csv' && {focused_text(text['csv'])}")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    content = download.value.path().read_bytes().decode("utf-8-sig")
    assert content.splitlines()[0].startswith("Subject,count,output,status")
    assert content.count(",succeeded,") == 4


def _workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("locale", LANGUAGES)
def test_every_other_batch_page_is_accessible(
    signed_in_page, make_template, owner, live_server_url, locale
) -> None:
    template = make_template(slug="weather")
    comparison = create_batch(
        template,
        owner,
        [
            (1, {"topic": "fog", "count": 1}, {"topic": "fog"}),
            (2, {"topic": "dew", "count": 2}, {"topic": "dew"}),
        ],
        configurations=[ConfigurationSpec(), ConfigurationSpec(temperature="0.2")],
        columns=["topic"],
    )
    wait_until(lambda: Batch.objects.get(pk=comparison.pk).state == BatchState.FINISHED, timeout=30)
    page = signed_in_page(owner, locale)
    base = live_server_url
    # The upload form sent empty: the error summary, focused.
    page.goto(f"{base}/t/weather/batch/")
    page.locator("form.narrow-form button[type=submit]").press("Enter")
    page.wait_for_selector("[data-error-summary]")
    assert page.evaluate("() => document.activeElement.matches('[data-error-summary]')")
    assert page.title().startswith(("Error:", "Erro:"))
    assert_accessible(page)
    # A workbook with two sheets: the sheet step; a file with errors: the error table.
    page.locator("#id_file").set_input_files(
        {
            "name": "two.xlsx",
            "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "buffer": _workbook({"North": [["topic", "count"], ["fog", 9]], "South": [["topic"], ["dew"]]}),
        }
    )
    page.locator("form.narrow-form button[type=submit]").press("Enter")
    page.wait_for_url("**/sheet/")
    assert_accessible(page)
    page.locator("input[value=North]").check()
    page.locator("form.narrow-form button[type=submit]").press("Enter")
    page.wait_for_url("**/review/")
    assert page.locator("table tbody tr").count() == 1  # row 1, count: more than 5
    assert_accessible(page)
    for path in ("/batches/", f"/batches/{comparison.pk}/", f"/batches/{comparison.pk}/compare/"):
        page.goto(f"{base}{path}")
        assert_accessible(page)
    page.goto(f"{base}/batches/{comparison.pk}/compare/?first_row=1&first=0&second_row=2&second=1")
    assert page.locator("#word-diff del, #word-diff ins").count() > 0
    assert_accessible(page)
    page.goto(f"{base}/t/weather/")
    page.locator("#id_topic").fill("tides")
    page.locator("button[formaction$='/compare/']").press("Enter")
    page.wait_for_url("**/t/weather/compare/")
    assert page.locator("#id_topic").input_value() == "tides"
    assert_accessible(page)


def test_without_javascript_pasted_rows_run_and_the_page_reloads_until_the_end(
    signed_in_page, make_template, owner, live_server_url
) -> None:
    make_template(slug="weather", body=BODY)
    page = signed_in_page(owner, java_script_enabled=False)
    page.goto(f"{live_server_url}/t/weather/batch/")
    page.locator("#id_rows").fill("topic,count\nfog,1\nrain,2\n")
    page.locator("form.narrow-form button[type=submit]").click()
    page.wait_for_url("**/review/")
    page.locator("#review-start").click()
    page.wait_for_url("**/batches/*/")
    assert page.locator("#batch-progress").get_attribute("data-state") == "running"
    # Nothing clicked: a running batch's page reloads itself until the batch has ended.
    page.wait_for_selector("#batch-progress[data-state=finished]", timeout=30_000)
    assert page.locator("#batch-rows a[href^='/jobs/']").count() == 2
    assert page.locator("#batch-download-csv").is_visible()


def test_live_updates_keep_the_keyboard_focus_and_cancel_stops_the_batch(
    signed_in_page, make_template, owner, live_server_url
) -> None:
    template = make_template(slug="weather", body=BODY)
    rows = [(n, {"topic": f"t{n}", "count": 1}, {"topic": f"t{n}"}) for n in range(1, 9)]
    batch = create_batch(template, owner, rows, columns=["topic"], concurrency=1)
    page = signed_in_page(owner)
    page.goto(f"{live_server_url}/batches/{batch.pk}/")
    tab_to(page, "el.id === 'batch-cancel'")
    page.evaluate("() => { document.activeElement.dataset.focusMark = 'yes'; }")
    finished = "Number(document.getElementById('batch-progress-bar').value)"
    page.wait_for_function(f"() => {finished} >= 2", timeout=30_000)  # two live updates later
    assert page.evaluate("() => document.activeElement.dataset.focusMark === 'yes'")
    page.keyboard.press("Enter")
    page.wait_for_selector("#batch-progress[data-state=cancelled]")
    assert page.locator("[data-messages]").is_visible()
    wait_until(lambda: Batch.objects.get(pk=batch.pk).running == 0, timeout=30)
    batch.refresh_from_db()
    assert batch.state == BatchState.CANCELLED and batch.cancelled >= 5
    assert batch.succeeded + batch.failed + batch.cancelled == 8
