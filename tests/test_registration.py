"""Registration never says whether an address has an account (site and API): the answer
is the same, and an e-mail to the address says what happened."""

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


def register_on_site(client: Client, email: str, password: str = NEW_PASSWORD, **headers: Any) -> Any:
    data = {"email": email, "name": "", "password1": password, "password2": password}
    return client.post(reverse("accounts:register"), data, follow=True, **headers)


def register_on_api(client: Client, email: str, password: str = NEW_PASSWORD, **headers: Any) -> Any:
    data = {"email": email, "password": password}
    return client.post("/api/v1/auth/register", data, content_type="application/json", **headers)


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
    assert not pending.is_active and pending.awaiting_confirmation


def test_the_api_answers_a_taken_address_as_a_new_one_and_e_mails_each(owner: User, mailoutbox) -> None:
    taken = register_on_api(Client(), owner.email.upper())
    new = register_on_api(Client(), "script@example.com")
    assert taken.status_code == new.status_code == 202
    assert taken.json() == new.json()
    assert [mail.to for mail in mailoutbox] == [[owner.email], ["script@example.com"]]


def test_signing_in_before_confirming_fails_as_a_wrong_password_does(owner: User, mailoutbox) -> None:
    register_on_api(Client(), "early@example.com")
    login = reverse("accounts:login")
    wrong = Client().post(login, {"username": owner.email, "password": "not it"})
    early = Client().post(login, {"username": "early@example.com", "password": NEW_PASSWORD})
    assert early.status_code == wrong.status_code == 200
    assert early.context["form"].errors == wrong.context["form"].errors
    credentials = {"email": "early@example.com", "password": NEW_PASSWORD}
    token = Client().post("/api/v1/auth/token", credentials, content_type="application/json")
    assert token.status_code == 401


def test_the_e_mailed_link_confirms_once_and_signs_in(mailoutbox, make_template) -> None:
    browser = Client()
    browser.post(make_template().get_absolute_url(), {"topic": "rain", "count": "1"})  # an anonymous job
    register_on_site(browser, "Ana@Example.com")
    link = link_in(mailoutbox[0])

    shown = browser.get(link)  # a mail scanner's GET signs no one in
    assert shown.status_code == 200 and "_auth_user_id" not in browser.session
    assert not User.objects.get(email="ana@example.com").is_active

    confirmed = browser.post(link)
    assert confirmed.status_code == 302
    user = User.objects.get(email="ana@example.com")
    assert user.is_active and not user.awaiting_confirmation
    assert browser.session["_auth_user_id"] == str(user.pk)
    assert user.jobs.count() == 1  # the anonymous job followed into the account
    assert Client().post(link).status_code == 400  # used up


def test_registering_a_pending_address_again_replaces_its_password_and_link(mailoutbox) -> None:
    """Someone who registers another person's address first does not keep it: the
    mailbox's owner registers again, and only the newest link works."""
    register_on_api(Client(), "contested@example.com", "the squatter's passphrase 1")
    register_on_api(Client(), "contested@example.com", "the owner's passphrase 2")
    first, second = (link_in(mail) for mail in mailoutbox)
    assert Client().post(first).status_code == 400
    assert Client().post(second).status_code == 302
    user = User.objects.get(email="contested@example.com")
    assert user.check_password("the owner's passphrase 2") and User.objects.count() == 1


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
    page.locator("#id_password1").fill(NEW_PASSWORD)
    page.locator("#id_password2").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/accounts/register/sent/")
    assert "We sent an e-mail to browser@example.com" in page.inner_text("main")
    assert_accessible(page)

    user = User.objects.get(email="browser@example.com")
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("accounts:confirm", args=[uidb64, confirmation_tokens.make_token(user)])
    page.goto(f"{live_server_url}{path}")
    assert_accessible(page)
    page.get_by_role("button", name="Confirm and sign in").click()
    page.wait_for_url(f"{live_server_url}/")
    assert "Welcome to PromptLab" in page.inner_text("main")
    user.refresh_from_db()
    assert user.is_active
