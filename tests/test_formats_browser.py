"""The import page in a real browser: keyboard-reachable, and axe-core finds
nothing wrong with it empty, after a broken file, and after an import with
warnings, in English and in Portuguese."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from templates_app.models import Template

from .conftest import assert_accessible
from .test_browser import page_in  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DATA = Path(__file__).parent / "data" / "formats"


def sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill("correct horse battery")
    page.locator("#id_password").press("Enter")
    page.wait_for_url(f"{base_url}/")


@pytest.mark.parametrize(
    ("locale", "heading"), [("en-US", "Import a template"), ("pt-BR", "Importar um template")]
)
def test_import_page_is_accessible_empty_with_errors_and_with_warnings(
    page_in,  # noqa: F811
    live_server_url,
    locale: str,
    heading: str,  # noqa: F811
) -> None:
    User.objects.create_user("importer@example.com", "correct horse battery")
    page = page_in(locale)
    sign_in(page, live_server_url, "importer@example.com")
    page.locator("a[href='/import/']").click()
    assert page.get_by_role("heading", level=1).inner_text() == heading
    assert_accessible(page)

    page.locator("#id_file").set_input_files(str(DATA / "broken" / "prompty-unknown-type.prompty"))
    page.locator("form.narrow-form button[type=submit]").press("Enter")
    page.wait_for_selector("[data-error-summary]")
    assert page.evaluate("() => document.activeElement.hasAttribute('data-error-summary')")
    assert "image" in page.locator(".error-message").inner_text()
    assert_accessible(page)

    page.locator("#id_file").set_input_files(str(DATA / "prompd" / "invoice-extractor.prmd"))
    page.locator("form.narrow-form button[type=submit]").press("Enter")
    page.wait_for_selector("[data-imported]")
    assert "author, tags" in page.locator(".import-warnings").inner_text()
    assert_accessible(page)
    assert Template.objects.filter(owner__email="importer@example.com").count() == 1
