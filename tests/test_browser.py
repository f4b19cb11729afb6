"""The product in a real browser: headless Chromium driven by Playwright, with
axe-core run on every page a test visits."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from jobs.models import Job

from .conftest import HAS_REDIS, assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db: None) -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture
def page_in(signed_in_page: Any) -> Any:
    """Open anonymous pages; any console error (a CSP violation, a script error) fails the test."""
    return lambda locale="en-US": signed_in_page(None, locale)


def watch_output_until_terminal(page: Any) -> list[int]:
    """Sample the output's length on every DOM change until the job ends."""
    return page.evaluate(
        """() => new Promise((resolve, reject) => {
            const lengths = [];
            const done = () => {
                const summary = document.querySelector('[data-job-status]');
                return ['succeeded', 'failed', 'cancelled'].includes(summary.dataset.jobStatus);
            };
            const sample = () => {
                lengths.push(document.querySelector('#job-output').textContent.length);
                if (done()) { observer.disconnect(); resolve(lengths); }
            };
            const observer = new MutationObserver(sample);
            observer.observe(document.body,
                {subtree: true, childList: true, characterData: true, attributes: true});
            sample();
            setTimeout(() => reject(new Error('job did not finish in 30 s')), 30000);
        })"""
    )


def run_demo(page: Any, base_url: str, *, product: str) -> list[int]:
    page.goto(f"{base_url}/")
    assert_accessible(page)
    page.goto(f"{base_url}/t/product-description/")
    assert_accessible(page)
    page.locator("#id_product_name").fill(product)
    page.locator("#id_features").fill("Warm light\nDimmable\n<b>bold</b> claims")
    page.locator("#id_tone_2").check()
    page.locator("#id_word_count").fill("120")
    page.locator("form.parameter-form button[type=submit]").click()
    page.wait_for_url("**/jobs/*/")
    page.evaluate("() => { window.__sameDocument = true; }")
    lengths = watch_output_until_terminal(page)
    assert page.evaluate("() => window.__sameDocument === true"), "the job page reloaded"
    return lengths


def test_demo_form_streams_its_output_live_to_succeeded(page_in, demo, live_server_url) -> None:
    page = page_in("en-US")
    lengths = run_demo(page, live_server_url, product="Aurora lamp")
    job = Job.objects.get()
    summary = page.locator("[data-job-status]")
    assert summary.get_attribute("data-job-status") == "succeeded"
    assert page.locator("#job-output").text_content() == job.output
    assert "<b>bold</b> claims" in job.output  # shown as text, never as markup
    assert page.locator("#job-output b").count() == 0
    assert "Succeeded" in summary.inner_text()
    if HAS_REDIS:
        # Streamed: the page saw the output at several lengths on the way.
        distinct = sorted(set(lengths))
        assert len([n for n in distinct if 0 < n < len(job.output)]) >= 2, distinct
    assert_accessible(page)
    page.goto(f"{live_server_url}/jobs/")
    assert page.locator("table tbody tr").count() == 1
    assert_accessible(page)


def test_the_same_journey_in_portuguese(page_in, demo, live_server_url) -> None:
    page = page_in("pt-BR")
    page.goto(f"{live_server_url}/t/product-description/")
    assert page.locator("html").get_attribute("lang") == "pt-br"
    assert page.locator("label[for=id_product_name]").inner_text() == "Nome do produto"
    assert page.get_by_role("button", name="Gerar").is_visible()
    run_demo(page, live_server_url, product="Luminária Aurora")
    assert "Concluído" in page.locator("[data-job-status]").inner_text()
    assert_accessible(page)


def test_failed_submit_shows_a_focused_error_summary(page_in, demo, live_server_url) -> None:
    page = page_in("en-US")
    page.goto(f"{live_server_url}/t/product-description/")
    page.locator("#id_word_count").fill("5")
    page.locator("form.parameter-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.title().startswith("Error:")
    summary = page.locator("[data-error-summary]")
    assert summary.evaluate("element => element === document.activeElement")
    assert "Product name: This field is required." in summary.inner_text()
    assert page.locator("#id_word_count").get_attribute("aria-invalid") == "true"
    assert Job.objects.count() == 0
    assert_accessible(page)
    summary.get_by_role("link", name="Length in words").click()
    assert page.locator("#id_word_count").evaluate("element => element === document.activeElement")


def test_language_switcher_changes_the_page_language(page_in, demo, live_server_url) -> None:
    page = page_in("en-US")
    page.goto(f"{live_server_url}/accounts/login/")
    assert_accessible(page)
    page.locator("#language-select").select_option("pt-br")
    page.get_by_role("button", name="Change").click()
    page.wait_for_url("**/accounts/login/")
    assert page.locator("html").get_attribute("lang") == "pt-br"
    assert page.get_by_role("heading", level=1).inner_text() == "Entrar"
    assert_accessible(page)
    page.goto(f"{live_server_url}/accounts/register/")
    assert_accessible(page)


def test_htmx_and_its_sse_extension_come_from_django_htmx_and_load_under_the_strict_csp(
    page_in, demo, live_server_url
) -> None:
    page = page_in("en-US")
    scripts: list[tuple[str, int]] = []
    page.on("response", lambda r: r.request.resource_type == "script" and scripts.append((r.url, r.status)))
    response = page.goto(f"{live_server_url}/t/product-description/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_function("() => window.htmx !== undefined && htmx.version.startsWith('2.')")
    loaded = {url.rsplit("/", 1)[-1].split(".")[0]: status for url, status in scripts}
    # Served by whitenoise under collectstatic's hashed names.
    assert loaded == {"htmx-2": 200, "hx-sse-2": 200, "app": 200}, scripts
    assert all("/static/django_htmx/" in url for url, _status in scripts if "/app." not in url), scripts
    if HAS_REDIS:
        # The job page's output arrives through the extension's EventSource.
        streams: list[str] = []
        page.on("request", lambda r: r.resource_type == "eventsource" and streams.append(r.url))
        run_demo(page, live_server_url, product="Aurora lamp")
        assert [url.split("/jobs/")[1] for url in streams] == [f"{Job.objects.get().pk}/events/"]
