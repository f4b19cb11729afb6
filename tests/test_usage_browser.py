"""The usage page in a real browser: both languages, keyboard only, axe-core, and each
chart's table holding the very numbers its SVG draws."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from accounts.models import User

from .conftest import assert_accessible
from .test_usage import _queued, _run, _succeed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def runs(make_template: Any) -> User:
    owner = User.objects.create_user("usage@example.com", "correct horse battery")
    template = make_template(slug="usage-haiku", owner=owner)
    for n in range(3):
        job = _queued(template, owner, hash_=f"b{n}", active_key=f"b{n}")
        _succeed(
            job, tokens=(1200 * (n + 1), 300), cost=Decimal("1.25"), ttft_ms=200 + n * 100, duration_ms=900
        )
    failed = _queued(template, owner, hash_="bf", active_key="bf")
    assert failed.mark_failed(_run(failed, ttft_ms=100, duration_ms=2000), code="provider_error", message="")
    return owner


def _number(text: str, locale: str) -> Decimal:
    thousands, decimal = (".", ",") if locale == "pt-BR" else (",", ".")
    return Decimal(text.replace(thousands, "").replace(decimal, "."))


def chart_matches_its_table(page: Any, slug: str, locale: str) -> int:
    """Every mark the chart draws is the number in its table's row and column; the marks drawn."""
    marks = page.locator(f'svg[data-chart="{slug}"] [data-value]')
    rows = page.locator(f'table[data-chart-table="{slug}"] tbody tr')
    for index in range(marks.count()):
        mark = marks.nth(index)
        row, series = int(mark.get_attribute("data-row")), int(mark.get_attribute("data-series"))
        cell = rows.nth(row).locator("td").nth(series).text_content()
        assert _number(cell, locale) == Decimal(mark.get_attribute("data-value")), (slug, row, series)
    return marks.count()


@pytest.mark.parametrize(
    ("locale", "heading", "cost"),
    [("en-US", "Runs by status", "3.7500"), ("pt-BR", "Execuções por status", "3,7500")],
)
def test_usage_page_charts_equal_their_tables_in_both_languages(
    signed_in_page: Any, live_server_url: str, runs: User, locale: str, heading: str, cost: str
) -> None:
    page = signed_in_page(runs, locale)
    page.goto(f"{live_server_url}/usage/?period=24h")
    assert page.get_by_role("heading", name=heading).is_visible()
    assert cost in page.locator(".facts").inner_text()
    assert chart_matches_its_table(page, "runs", locale) == 2  # 3 succeeded and 1 failed, in one hour
    assert chart_matches_its_table(page, "tokens", locale) == 48  # two lines over 24 hours
    assert chart_matches_its_table(page, "cost", locale) == 1
    assert chart_matches_its_table(page, "errors", locale) == 1
    assert_accessible(page)
    page.locator("details.chart-data summary").first.click()
    assert_accessible(page)


def test_usage_page_by_keyboard_only(signed_in_page: Any, live_server_url: str, runs: User) -> None:
    page = signed_in_page(runs)
    page.goto(f"{live_server_url}/usage/")

    def tab_to(selector: str) -> None:
        for _ in range(80):
            page.keyboard.press("Tab")
            if page.evaluate("s => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"{selector} is not reachable by Tab")

    tab_to("input[name=period]")
    page.keyboard.press("ArrowUp")  # from 7 days to 24 hours
    assert page.locator("#id_period_0").is_checked()
    tab_to("form.usage-period button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/usage/?period=24h**")
    tab_to("details.chart-data summary")
    page.keyboard.press("Enter")
    assert page.locator("details.chart-data").first.get_attribute("open") is not None
    assert page.locator('table[data-chart-table="runs"]').is_visible()
    assert_accessible(page)
