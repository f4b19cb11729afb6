"""The account in a real browser (headless Chromium, axe-core on every page visited): the
tokens page (no second token on reload, copy, focus, confirm before revoke), password reset
end to end through the web server's console e-mail backend, messages that take focus, the
header's reflow at 320 CSS px on every main page, and /api/docs/."""

from __future__ import annotations

import quopri
import re
from pathlib import Path
from typing import Any

import pytest

from accounts.models import PersonalToken, User
from jobs.models import Job

from .conftest import assert_accessible, start_web_server, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def is_focused(locator: Any) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def no_horizontal_scroll(page: Any) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def overflowing(page: Any) -> list[str]:
    """What sticks out past the right edge: for the failure message."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
            .filter(e => { // not what scrolls inside a box of its own (a wide table)
                for (let p = e.parentElement; p; p = p.parentElement)
                    if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return false;
                return true; })
            .slice(0, 8)
            .map(e => `${e.tagName.toLowerCase()}#${e.id}.${[...e.classList].join('.')} `
                + Math.round(e.getBoundingClientRect().right))"""
    )


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_tokens_page_reload_creates_no_second_token_and_the_copy_button_says_copied(
    signed_in_page: Any, live_server_url: str, owner: User, locale: str, make_template: Any
) -> None:
    make_template(slug="haiku", owner=owner)
    page = signed_in_page(owner, locale)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server_url)
    page.goto(f"{live_server_url}/accounts/tokens/")
    assert_accessible(page)
    page.get_by_label("Haiku").focus()  # limited to one template, by keyboard
    page.keyboard.press("Space")
    page.locator("#id_name").fill("nightly")
    page.locator("#id_name").press("Enter")  # keyboard only
    page.wait_for_selector("#new-token")
    raw = page.locator("#new-token").inner_text()
    assert raw.startswith("pl_")
    assert [t.slug for t in PersonalToken.objects.get(user=owner).templates.all()] == ["haiku"]
    assert page.get_by_role("cell", name="Haiku", exact=True).count() == 1
    assert is_focused(page.locator("[data-focus-on-load]"))
    assert_accessible(page)

    copied = "Copiado" if locale == "pt-BR" else "Copied"
    status = page.locator("#new-token-copied")
    assert status.get_attribute("role") == "status" and status.inner_text() == ""  # the region exists first
    button = page.get_by_role("button", name="Copiar token" if locale == "pt-BR" else "Copy token")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "text => document.querySelector('#new-token-copied').textContent === text", arg=copied
    )
    assert page.evaluate("() => navigator.clipboard.readText()") == raw

    page.reload()
    page.wait_for_load_state()
    assert page.locator("#new-token").count() == 0
    assert PersonalToken.objects.filter(user=owner).count() == 1
    assert raw not in page.content()
    assert_accessible(page)


def test_revoking_a_token_asks_first(signed_in_page: Any, live_server_url: str, owner: User) -> None:
    PersonalToken.issue(owner, "nightly")
    page = signed_in_page(owner)
    page.goto(f"{live_server_url}/accounts/tokens/")
    page.get_by_role("link", name="Revoke nightly").click()
    page.wait_for_url("**/revoke/")
    assert page.get_by_role("heading", level=1).inner_text() == "Revoke the token “nightly”?"
    assert PersonalToken.objects.get().is_usable
    assert_accessible(page)
    page.get_by_role("button", name="Revoke token").click()
    page.wait_for_url("**/accounts/tokens/")
    messages = page.locator("[data-messages]")
    assert "was revoked" in messages.inner_text() and is_focused(messages)
    assert not PersonalToken.objects.get().is_usable
    assert_accessible(page)


@pytest.fixture(scope="module")
def mail_web_server(django_db_setup: None, service_log_dir: Path, worker: Any) -> Any:
    """A web server of its own whose e-mails go to its log (the console backend), so the
    test reads the reset link as a person reads their inbox."""
    server, url = start_web_server(
        service_log_dir, name="web-mail", EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend"
    )
    yield server, url
    server.stop()


def test_password_reset_end_to_end(signed_in_page: Any, mail_web_server: Any, owner: User) -> None:
    server, url = mail_web_server
    page = signed_in_page(None, "pt-BR")
    page.goto(f"{url}/accounts/login/")
    page.get_by_role("link", name="Esqueceu sua senha?").click()
    page.wait_for_url("**/accounts/password/reset/")
    assert_accessible(page)
    page.locator("#id_email").fill(owner.email)
    page.get_by_role("button", name="Enviar o link").click()
    page.wait_for_url("**/accounts/password/reset/sent/")
    assert f"Enviamos um e-mail para {owner.email}" in page.inner_text("main")
    assert_accessible(page)

    pattern = re.compile(rf"{re.escape(url)}/accounts/password/reset/[^/\s]+/[^/\s]+/")

    def inbox() -> str:  # the console backend writes each message quoted-printable
        return quopri.decodestring(server.log().encode()).decode(errors="replace")

    link = wait_until(lambda: (found := pattern.findall(inbox())) and found[-1])
    page.goto(link)
    page.wait_for_url("**/set-password/")
    assert_accessible(page)
    page.locator("#id_new_password1").fill("a brand new passphrase 7")
    page.locator("#id_new_password2").fill("not the same")
    page.get_by_role("button", name="Alterar senha").click()
    page.wait_for_selector("[data-error-summary]")
    assert page.title().startswith("Erro:") and is_focused(page.locator("[data-error-summary]"))
    assert_accessible(page)
    page.locator("#id_new_password1").fill("a brand new passphrase 7")
    page.locator("#id_new_password2").fill("a brand new passphrase 7")
    page.get_by_role("button", name="Alterar senha").click()
    page.wait_for_url("**/accounts/password/reset/done/")
    assert is_focused(page.locator("[data-messages]"))
    assert_accessible(page)

    page.get_by_role("link", name="Entre com sua nova senha").click()
    page.locator("#id_username").fill(owner.email)
    page.locator("#id_password").fill("a brand new passphrase 7")
    page.locator("#id_password").press("Enter")
    page.wait_for_url(f"{url}/")
    messages = page.locator("[data-messages]")
    assert messages.get_attribute("role") == "status" and is_focused(messages)
    assert messages.inner_text() == f"Você entrou como {owner.email}."
    assert_accessible(page)
    # The same link again: used.
    page.goto(link)
    assert "Este link não é válido" in page.inner_text("main")


def test_sign_in_and_sign_out_messages_take_focus(
    signed_in_page: Any, live_server_url: str, owner: User
) -> None:
    page = signed_in_page(None)
    page.goto(f"{live_server_url}/accounts/login/")
    page.locator("#id_username").fill(owner.email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server_url}/")
    messages = page.locator("[data-messages]")
    assert is_focused(messages) and messages.inner_text() == f"You are signed in as {owner.email}."
    assert_accessible(page)
    # The account menu, by keyboard: open, sign out.
    page.locator(".account-menu__toggle").focus()
    page.keyboard.press("Enter")
    assert page.locator("details.account-menu").get_attribute("open") is not None
    assert_accessible(page)
    page.keyboard.press("Escape")
    assert page.locator("details.account-menu").get_attribute("open") is None
    assert is_focused(page.locator(".account-menu__toggle"))
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server_url}/")
    assert is_focused(page.locator("[data-messages]")) and "You are signed out." in page.inner_text("main")
    assert_accessible(page)


def test_saving_the_account_page_switches_the_language_and_says_so(
    signed_in_page: Any, live_server_url: str, owner: User
) -> None:
    page = signed_in_page(owner)
    page.goto(f"{live_server_url}/accounts/account/")
    assert "60 a minute and 1,000 an hour" in page.inner_text("main")
    assert_accessible(page)
    page.locator("#id_language").select_option("pt-br")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "pt-br"
    assert is_focused(page.locator("[data-messages]"))
    assert page.locator("[data-messages]").inner_text() == "Sua conta foi salva."
    assert "60 por minuto e 1.000 por hora" in page.inner_text("main")
    assert_accessible(page)
    owner.refresh_from_db()
    assert owner.language == "pt-br"


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_every_main_page_reflows_at_320_css_pixels(
    signed_in_page: Any, live_server_url: str, owner: User, make_template: Any, locale: str
) -> None:
    """WCAG 1.4.10: no horizontal scrolling at 320 CSS px, the account menu open included."""
    template = make_template(owner=owner)
    narrow = {"viewport": {"width": 320, "height": 640}}
    page = signed_in_page(owner, locale, **narrow)

    def check(path: str) -> None:
        if path:
            page.goto(f"{live_server_url}{path}")
        page.wait_for_load_state()
        assert no_horizontal_scroll(page), (path, overflowing(page))
        assert_accessible(page)

    check("/")
    page.locator(".account-menu__toggle").click()
    check("")
    check(f"/t/{template.slug}/")
    page.locator("#id_topic").fill("A long topic")
    page.locator("form.parameter-form button[type=submit]").click()
    page.wait_for_url("**/jobs/*/")
    check("")
    job = Job.objects.get()
    page.wait_for_function(
        "() => document.querySelector('[data-job-status]').dataset.jobStatus === 'succeeded'"
    )
    check(f"/jobs/{job.pk}/")
    check("/jobs/")
    check(f"/t/{template.slug}/edit/")
    check("/accounts/tokens/")
    page.locator("#id_name").fill("a token with a long name for narrow screens")
    page.locator("#id_name").press("Enter")
    page.wait_for_selector("#new-token")
    check("")
    check("/accounts/account/")
    check("/accounts/password/change/")

    anonymous = signed_in_page(None, locale, **narrow)
    for path in ("/accounts/login/", "/accounts/register/", "/accounts/password/reset/", "/"):
        anonymous.goto(f"{live_server_url}{path}")
        assert no_horizontal_scroll(anonymous), (path, overflowing(anonymous))
        assert_accessible(anonymous)


def test_the_api_docs_page_has_summaries_a_language_and_a_way_back(
    browser: Any, live_server_url: str, owner: User
) -> None:
    # Swagger UI is not ours: its own console noise does not fail this test.
    context = browser.new_context(locale="pt-BR")
    try:
        page = context.new_page()
        page.goto(f"{live_server_url}/api/docs/")
        page.wait_for_selector(".opblock-summary-description")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_text("Cancel a job").count() >= 1
        page.get_by_role("link", name="Voltar ao PromptLab").click()
        page.wait_for_url(f"{live_server_url}/")
    finally:
        context.close()
