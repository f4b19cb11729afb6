"""Registration never says whether an address has an account (site and API): the answer
is the same, and an e-mail to the address says what happened. It takes the address only:
the password is chosen on the page the e-mailed link opens, so a stranger who registers
someone else's address cannot choose the password that address's owner then activates."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User

from .conftest import _free_port, assert_accessible

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a long passphrase 42"


def register_on_site(client: Client, email: str, **headers: Any) -> Any:
    return client.post(reverse("accounts:register"), {"email": email}, follow=True, **headers)


def register_on_api(client: Client, email: str, **headers: Any) -> Any:
    return client.post("/api/v1/auth/register", {"email": email}, content_type="application/json", **headers)


def finish(client: Client, link: str, password: str = NEW_PASSWORD, name: str = "", **headers: Any) -> Any:
    data = {"name": name, "password1": password, "password2": password}
    return client.post(link, data, **headers)


def signs_in(email: str, password: str) -> bool:
    return Client().login(username=email, password=password)


def link_in(mail: Any) -> str:
    return next(line.strip() for line in mail.body.splitlines() if line.strip().startswith("http"))


def test_the_site_answers_a_taken_address_as_a_new_one_and_e_mails_each(owner: User, mailoutbox) -> None:
    taken = register_on_site(Client(), owner.email)
    new = register_on_site(Client(), "newcomer@example.com")
    assert taken.redirect_chain == new.redirect_chain == [(reverse("accounts:register-sent"), 302)]

    def page(response: Any, email: str) -> str:
        csrf_tokens = r'"X-CSRFToken": "\w+"|name="csrfmiddlewaretoken" value="\w+"'
        return re.sub(csrf_tokens, "", response.content.decode()).replace(email, "ADDRESS")

    assert page(taken, owner.email) == page(new, "newcomer@example.com")

    already, confirm = mailoutbox
    assert already.to == [owner.email] and "already has one" in already.body
    assert reverse("accounts:login") in link_in(already)
    assert confirm.to == ["newcomer@example.com"] and "/accounts/confirm/" in link_in(confirm)
    # The existing account is untouched; the new one waits for its link.
    assert User.objects.get(pk=owner.pk).check_password("correct horse battery")
    pending = User.objects.get(email="newcomer@example.com")
    assert not pending.is_active and pending.awaiting_confirmation and not pending.has_usable_password()


def test_the_api_answers_a_taken_address_as_a_new_one_and_e_mails_each(owner: User, mailoutbox) -> None:
    taken = register_on_api(Client(), owner.email.upper())
    new = register_on_api(Client(), "script@example.com")
    assert taken.status_code == new.status_code == 202
    assert taken.json() == new.json()
    assert [mail.to for mail in mailoutbox] == [[owner.email], ["script@example.com"]]


def test_signing_in_before_confirming_fails_as_a_wrong_password_does(owner: User, mailoutbox) -> None:
    register_on_api(Client(), "early@example.com")  # no password exists yet: nothing can match
    login = reverse("accounts:login")
    wrong = Client().post(login, {"username": owner.email, "password": "not it"})
    early = Client().post(login, {"username": "early@example.com", "password": NEW_PASSWORD})
    assert early.status_code == wrong.status_code == 200
    assert early.context["form"].errors == wrong.context["form"].errors
    credentials = {"email": "early@example.com", "password": NEW_PASSWORD}
    token = Client().post("/api/v1/auth/token", credentials, content_type="application/json")
    assert token.status_code == 401


def test_the_e_mailed_link_sets_the_password_once_and_signs_in(mailoutbox, make_template) -> None:
    browser = Client()
    browser.post(make_template().get_absolute_url(), {"topic": "rain", "count": "1"})  # an anonymous job
    register_on_site(browser, "Ana@Example.com")
    link = link_in(mailoutbox[0])

    shown = browser.get(link)  # a mail scanner's GET signs no one in
    assert shown.status_code == 200 and "_auth_user_id" not in browser.session
    page = shown.content.decode()
    assert 'name="password1"' in page and 'autocomplete="new-password"' in page
    hint = page.split('id="id_password1_helptext">')[1].split("</p>")[0]
    assert "at least 8 characters" in hint and "<" not in hint  # text a paragraph can hold
    assert not User.objects.get(email="ana@example.com").is_active

    confirmed = finish(browser, link, name="Ana")
    assert confirmed.status_code == 302
    user = User.objects.get(email="ana@example.com")
    assert user.is_active and not user.awaiting_confirmation and user.name == "Ana"
    assert user.check_password(NEW_PASSWORD)
    assert browser.session["_auth_user_id"] == str(user.pk)
    assert user.jobs.count() == 1  # the anonymous job followed into the account
    assert finish(Client(), link, "another passphrase 77").status_code == 400  # used up
    assert signs_in("ana@example.com", NEW_PASSWORD)


def test_a_stranger_who_registers_an_address_cannot_choose_the_password_its_owner_activates(
    mailoutbox,
) -> None:
    """The attack: a stranger registers victim@ with a password of their own; the victim
    gets a genuine e-mail, follows it, and is signed in, so nothing looks wrong. The
    password must be the one the victim chose on that page, never the stranger's."""
    squatter = "the squatter's passphrase 1"
    refused = Client().post(
        "/api/v1/auth/register",
        {"email": "victim@example.com", "password": squatter},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "password" in refused.json()["error"]["details"]
    assert mailoutbox == []  # refused before anything is written or sent
    # The site's form has no password field; one sent anyway is ignored.
    Client().post(
        reverse("accounts:register"),
        {"email": "victim@example.com", "password1": squatter, "password2": squatter},
    )
    (mail,) = mailoutbox
    assert finish(Client(), link_in(mail), "the victim's passphrase 2").status_code == 302
    assert signs_in("victim@example.com", "the victim's passphrase 2")
    assert not signs_in("victim@example.com", squatter)


def test_registering_a_pending_address_again_sends_a_link_and_cancels_none(mailoutbox) -> None:
    """Every link stays good until one is used, so a stranger registering the address
    again cannot cancel the owner's link; the first used is the only one that works."""
    register_on_api(Client(), "contested@example.com")
    register_on_api(Client(), "contested@example.com")
    first, second = (link_in(mail) for mail in mailoutbox)
    assert Client().get(first).status_code == Client().get(second).status_code == 200
    assert finish(Client(), first).status_code == 302
    assert finish(Client(), second, "another passphrase 77").status_code == 400
    assert signs_in("contested@example.com", NEW_PASSWORD) and User.objects.count() == 1


@pytest.mark.parametrize(
    ("password", "again", "field", "message"),
    [
        ("short", "short", "password2", "Esta senha é muito curta"),
        (
            "a long passphrase 42",
            "a long passphrase 43",
            "password2",
            "Os dois campos de senha não correspondem",
        ),
        ("password123", "password123", "password2", "Esta senha é muito comum"),
        ("", "", "password1", "Este campo é obrigatório"),
    ],
)
def test_the_confirmation_page_checks_the_password_with_translated_errors(
    mailoutbox, password: str, again: str, field: str, message: str
) -> None:
    register_on_api(Client(), "careful@example.com")
    link = link_in(mailoutbox[0])
    data = {"name": "", "password1": password, "password2": again}
    page = Client().post(link, data, HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert page.status_code == 200
    errors = page.context["form"].errors
    assert any(message in error for error in errors[field]), errors
    assert "<title>Erro:" in page.content.decode()
    pending = User.objects.get(email="careful@example.com")
    assert pending.awaiting_confirmation and not pending.is_active and not pending.has_usable_password()
    assert finish(Client(), link).status_code == 302  # the link still works


def test_the_password_may_not_resemble_the_address(mailoutbox) -> None:
    register_on_api(Client(), "marguerite.duras@example.com")
    page = finish(Client(), link_in(mailoutbox[0]), "marguerite.duras")
    assert page.status_code == 200 and "password2" in page.context["form"].errors


def test_the_e_mail_is_in_the_language_of_the_request(owner: User, mailoutbox) -> None:
    register_on_site(Client(), "novo@example.com", HTTP_ACCEPT_LANGUAGE="pt-BR")
    register_on_api(Client(), owner.email, HTTP_ACCEPT_LANGUAGE="pt-BR")
    confirm, already = mailoutbox
    assert confirm.subject == "Confirme sua conta do PromptLab"
    assert "Para terminar de criá-la" in confirm.body
    assert already.subject == "Você já tem uma conta do PromptLab"
    assert "Para usá-la, entre aqui" in already.body


def test_a_failing_mail_server_changes_nothing_in_the_answer(owner: User, settings, caplog) -> None:
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": _free_port(), "timeout": 2},  # nothing listens there
        }
    }
    answers = [register_on_api(Client(), email) for email in (owner.email, "unlucky@example.com")]
    assert [a.status_code for a in answers] == [202, 202] and answers[0].json() == answers[1].json()
    assert "Could not send" in caplog.text


def test_an_invalid_link_is_a_clear_400(client: Client) -> None:
    response = client.get(reverse("accounts:confirm", args=["bm90LWEtdXNlcg", "nope"]))
    assert response.status_code == 400 and "This link is not valid" in response.content.decode()


def test_nobody_can_flood_an_address_with_registration_e_mails(owner: User, mailoutbox) -> None:
    statuses = [
        register_on_api(Client(), owner.email, REMOTE_ADDR=f"203.0.113.{n}").status_code for n in range(6)
    ]
    assert statuses == [202] * 5 + [429] and len(mailoutbox) == 5
    site = register_on_site(Client(), owner.email, REMOTE_ADDR="203.0.113.77", HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert site.status_code == 429 and "Tentativas demais. Tente de novo em" in site.content.decode()
    # (An hourly window: how much of it is left depends on the clock.)
    assert int(site["Retry-After"]) >= 1 and len(mailoutbox) == 5


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_registering_in_a_browser_and_following_the_link(signed_in_page: Any, live_server_url: str) -> None:
    from accounts.registration import confirmation_tokens

    page = signed_in_page(None)
    page.goto(f"{live_server_url}/accounts/register/")
    page.locator("#id_email").fill("browser@example.com")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/accounts/register/sent/")
    assert "We sent an e-mail to browser@example.com" in page.inner_text("main")
    assert_accessible(page)

    user = User.objects.get(email="browser@example.com")
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("accounts:confirm", args=[uidb64, confirmation_tokens.make_token(user)])
    page.goto(f"{live_server_url}{path}")
    assert_accessible(page)
    page.locator("#id_password1").fill(NEW_PASSWORD)
    page.locator("#id_password2").fill("not the same")
    page.get_by_role("button", name="Confirm and sign in").click()
    page.wait_for_selector(".error-summary")  # the form again, with its errors
    assert page.title().startswith("Error:")
    assert_accessible(page)
    page.locator("#id_password1").fill(NEW_PASSWORD)
    page.locator("#id_password2").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Confirm and sign in").click()
    page.wait_for_url(f"{live_server_url}/")
    assert "Welcome to PromptLab" in page.inner_text("main")
    user.refresh_from_db()
    assert user.is_active and user.check_password(NEW_PASSWORD)
