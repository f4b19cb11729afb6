"""The account's pages without a browser: password reset and change, the account page
(language preference, plan limits), the tokens page's POST-redirect-GET and revoke
confirmation, the messages that confirm sign-in, sign-out and saves, and /api/docs/."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import PersonalToken, User
from accounts.registration import register
from promptlab import ratelimits

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 7"


def link_in(mail: Any) -> str:
    return next(line.strip() for line in mail.body.splitlines() if line.strip().startswith("http"))


def messages_in(page: str) -> list[str]:
    area = re.search(
        r'<div class="messages" role="status" tabindex="-1" data-messages>(.*?)</div>', page, re.S
    )
    return re.findall(r'<p class="message[^"]*">(.*?)</p>', area.group(1)) if area else []


# --- Password reset -----------------------------------------------------------------


def test_a_reset_link_e_mailed_to_the_owner_sets_a_new_password_and_revokes_tokens(
    owner: User, mailoutbox
) -> None:
    PersonalToken.issue(owner, "script")
    sent = Client().post(reverse("accounts:password-reset"), {"email": "OWNER@example.com"}, follow=True)
    assert sent.redirect_chain[-1][0] == reverse("accounts:password-reset-sent")
    assert "We sent an e-mail to OWNER@example.com" in sent.content.decode()  # as typed
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [owner.email]
    assert mailoutbox[0].subject == "Reset your PromptLab password"
    browser = Client()
    form = browser.get(link_in(mailoutbox[0]), follow=True)  # Django moves the token to the session
    assert 'name="new_password1"' in form.content.decode()
    done = browser.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert done.redirect_chain[-1][0] == reverse("accounts:password-reset-complete")
    assert Client().login(username=owner.email, password=NEW_PASSWORD)
    assert not PersonalToken.objects.get().is_usable
    # The link worked once.
    assert "This link is not valid" in Client().get(link_in(mailoutbox[0]), follow=True).content.decode()


def test_a_reset_answers_every_address_alike_and_e_mails_each_what_applies(owner: User, mailoutbox) -> None:
    pending = "pending@example.com"
    register(Client().get("/").wsgi_request, pending)
    mailoutbox.clear()
    answers = {}
    for email in (owner.email, "nobody@example.com", pending):
        response = Client().post(reverse("accounts:password-reset"), {"email": email})
        answers[email] = (response.status_code, response["Location"])
    assert set(answers.values()) == {(302, reverse("accounts:password-reset-sent"))}
    to_owner, to_nobody, to_pending = mailoutbox
    assert "/accounts/password/reset/" in link_in(to_owner)
    for mail in (to_nobody, to_pending):
        assert "has no account" in mail.body and link_in(mail).endswith(reverse("accounts:register"))
    assert not User.objects.filter(email="nobody@example.com").exists()


def test_the_reset_e_mail_is_in_the_language_of_the_request(owner: User, mailoutbox) -> None:
    Client().post(reverse("accounts:password-reset"), {"email": owner.email}, HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert mailoutbox[0].subject == "Redefina sua senha do PromptLab"
    assert "Para escolher uma nova senha" in mailoutbox[0].body


def test_nobody_can_flood_an_address_with_reset_e_mails(owner: User, mailoutbox) -> None:
    url = reverse("accounts:password-reset")
    statuses = [
        Client().post(url, {"email": owner.email}, REMOTE_ADDR=f"203.0.113.{n}").status_code for n in range(6)
    ]
    assert statuses == [302] * 5 + [429] and len(mailoutbox) == 5
    refused = Client().post(
        url, {"email": owner.email}, REMOTE_ADDR="203.0.113.99", HTTP_ACCEPT_LANGUAGE="pt-BR"
    )
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Tentativas demais" in refused.content.decode() and len(mailoutbox) == 5


def test_a_bad_reset_address_keeps_the_form_with_its_error(mailoutbox) -> None:
    page = Client().post(reverse("accounts:password-reset"), {"email": "not an address"})
    assert page.status_code == 200 and "<title>Error:" in page.content.decode()
    assert 'aria-invalid="true"' in page.content.decode() and not mailoutbox


# --- Password change ------------------------------------------------------------------


def test_changing_the_password_needs_the_current_one_keeps_this_session_and_revokes_tokens(
    client: Client, owner: User
) -> None:
    PersonalToken.issue(owner, "script")
    client.force_login(owner)
    url = reverse("accounts:password-change")
    wrong = client.post(
        url, {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert "Your current password is not right" in wrong.content.decode()
    assert PersonalToken.objects.get().is_usable
    data = {
        "old_password": "correct horse battery",
        "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
    }
    done = client.post(url, data, follow=True)
    assert done.redirect_chain[-1][0] == reverse("accounts:account")
    assert messages_in(done.content.decode()) == [
        "Your password was changed. Your API tokens were revoked and other devices were signed out."
    ]
    assert client.get(reverse("accounts:account")).status_code == 200  # still signed in here
    assert not PersonalToken.objects.get().is_usable
    assert Client().login(username=owner.email, password=NEW_PASSWORD)


def test_an_account_without_a_password_sets_one_without_being_asked_for_a_current_one(
    client: Client,
) -> None:
    person = User.objects.create_user("sso@example.com", None)  # as single sign-on makes it
    client.force_login(person)
    assert "Set a password" in client.get(reverse("accounts:account")).content.decode()
    url = reverse("accounts:password-change")
    page = client.get(url).content.decode()
    assert "<h1>Set a password</h1>" in page and 'name="old_password"' not in page
    mismatch = client.post(url, {"new_password1": NEW_PASSWORD, "new_password2": "something else"})
    assert mismatch.status_code == 200 and 'aria-invalid="true"' in mismatch.content.decode()
    done = client.post(url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("accounts:account")
    assert messages_in(done.content.decode()) == [
        "Your password was set: you can sign in with it too. Your API tokens were revoked."
    ]
    assert Client().login(username=person.email, password=NEW_PASSWORD)
    assert 'name="old_password"' in client.get(url).content.decode()  # from now on, a change


# --- The account page -------------------------------------------------------------------


def test_the_account_page_shows_the_plan_and_its_real_limits(client: Client, owner: User) -> None:
    assert client.get(reverse("accounts:account")).status_code == 302  # sign in first
    owner.plan = "starter"
    owner.save()
    client.force_login(owner)
    page = client.get(reverse("accounts:account")).content.decode()
    minute, hour = ratelimits.PLAN_RATES["starter"]
    assert minute == "300/m" and hour == "10000/h"
    assert "Starter" in page and "300 a minute and 10,000 an hour" in page
    portuguese = client.get(reverse("accounts:account"), HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    assert "300 por minuto e 10.000 por hora" in portuguese


def test_saving_the_account_page_keeps_name_and_language_and_says_so(client: Client, owner: User) -> None:
    client.force_login(owner)
    saved = client.post(reverse("accounts:account"), {"name": "Ana", "language": "pt-br"}, follow=True)
    owner.refresh_from_db()
    assert (owner.name, owner.language) == ("Ana", "pt-br")
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "pt-br"
    assert messages_in(saved.content.decode()) == ["Sua conta foi salva."]
    assert '<html lang="pt-br">' in saved.content.decode()
    # Back to the browser's language: the cookie goes.
    client.post(reverse("accounts:account"), {"name": "Ana", "language": ""})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""
    assert '<html lang="en">' in client.get("/").content.decode()


def test_an_unknown_language_is_refused_on_the_field(client: Client, owner: User) -> None:
    client.force_login(owner)
    page = client.post(reverse("accounts:account"), {"name": "", "language": "klingon"}).content.decode()
    assert "<title>Error:" in page and 'href="#id_language"' in page
    owner.refresh_from_db()
    assert owner.language == ""


def test_the_language_preference_reaches_a_browser_that_has_no_language_cookie(owner: User) -> None:
    owner.language = "pt-br"
    owner.save()
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(owner)
    page = browser.get("/")
    assert '<html lang="pt-br">' in page.content.decode()
    assert page.cookies[settings.LANGUAGE_COOKIE_NAME].value == "pt-br"
    # The switcher still decides for this browser until the next sign-in.
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert '<html lang="en">' in browser.get("/").content.decode()
    # Anonymous visitors and other accounts are untouched.
    assert '<html lang="en">' in Client(HTTP_ACCEPT_LANGUAGE="en").get("/").content.decode()


def test_signing_in_applies_the_language_preference_and_says_who_is_signed_in(owner: User) -> None:
    owner.language = "pt-br"
    owner.save()
    browser = Client()
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # chosen before signing in
    data = {"username": owner.email, "password": "correct horse battery"}
    page = browser.post(reverse("accounts:login"), data, follow=True)
    assert browser.cookies[settings.LANGUAGE_COOKIE_NAME].value == "pt-br"
    assert messages_in(page.content.decode()) == ["Você entrou como owner@example.com."]


def test_signing_out_says_so(client: Client, owner: User) -> None:
    client.force_login(owner)
    page = client.post(reverse("accounts:logout"), follow=True).content.decode()
    assert messages_in(page) == ["You are signed out."]
    assert "Signed in as" not in page


# --- API tokens ---------------------------------------------------------------------


def test_reloading_the_page_after_creating_a_token_creates_no_second_one(client: Client, owner: User) -> None:
    client.force_login(owner)
    created = client.post(reverse("accounts:tokens"), {"name": "nightly"}, follow=True)
    assert created.redirect_chain == [(reverse("accounts:tokens"), 302)]
    page = created.content.decode()
    raw = re.search(r'id="new-token">(pl_[^<]+)<', page).group(1)
    assert "data-focus-on-load" in page and 'data-copy="#new-token"' in page
    reloaded = client.get(reverse("accounts:tokens")).content.decode()
    assert raw not in reloaded and 'id="new-token"' not in reloaded
    assert PersonalToken.objects.filter(user=owner).count() == 1
    assert PersonalToken.objects.get().key_hash not in page  # never the hash either
    assert "accounts:new-api-token" not in client.session


def test_an_invalid_token_form_keeps_its_errors_and_creates_nothing(client: Client, owner: User) -> None:
    client.force_login(owner)
    page = client.post(reverse("accounts:tokens"), {"name": "", "expires_in_days": "0"})
    assert page.status_code == 200 and "<title>Error:" in page.content.decode()
    assert not PersonalToken.objects.exists()


def test_revoking_a_token_asks_first_on_a_page_of_its_own(
    client: Client, owner: User, other_user: User
) -> None:
    token, _raw = PersonalToken.issue(owner, "nightly")
    url = reverse("accounts:revoke-token", args=[token.pk])
    assert client.get(url)["Location"].startswith(reverse("accounts:login"))  # anonymous
    client.force_login(other_user)
    assert client.get(url).status_code == 404 and client.post(url).status_code == 404
    client.force_login(owner)
    tokens_page = client.get(reverse("accounts:tokens")).content.decode()
    assert f'href="{url}"' in tokens_page and f'action="{url}"' not in tokens_page
    question = client.get(url).content.decode()
    assert "Revoke the token “nightly”?" in question and 'method="post"' in question
    token.refresh_from_db()
    assert token.is_usable  # asking changes nothing
    done = client.post(url, follow=True)
    token.refresh_from_db()
    assert not token.is_usable
    assert messages_in(done.content.decode()) == ["The token “nightly” was revoked."]
    assert client.get(url)["Location"] == reverse("accounts:tokens")  # nothing left to ask


# --- Header and API docs --------------------------------------------------------------


def test_the_header_links_the_api_docs_for_signed_in_users_only(client: Client, owner: User) -> None:
    docs = reverse("api-docs")
    assert f'href="{docs}"' not in client.get("/").content.decode()
    client.force_login(owner)
    page = client.get("/").content.decode()
    assert f'href="{docs}"' in page and '<details class="account-menu"' in page
    assert "Signed in as owner@example.com" in page


def test_the_api_docs_page_has_a_language_a_way_back_and_no_inline_code(client: Client, owner: User) -> None:
    page = client.get(reverse("api-docs"), HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    assert '<html lang="en">' in page  # Swagger UI and the schema are in English
    assert '<header class="api-docs__header" lang="pt-br">' in page
    assert 'href="/">Voltar ao PromptLab</a>' in page
    assert "<style" not in page and re.search(r"<script>(?!</script>)", page) is None


def test_every_api_operation_has_a_summary(client: Client) -> None:
    schema = json.loads(client.get(reverse("api-schema"), HTTP_ACCEPT="application/json").content)
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    assert len(operations) >= 20
    missing = [(path, method) for path, method, op in operations if not op.get("summary")]
    assert not missing
    summaries = [op["summary"] for _path, _method, op in operations]
    assert len(set(summaries)) == len(summaries)  # each says which one it is
    cancel = schema["paths"]["/api/v1/jobs/{id}/cancel"]["post"]
    assert (
        cancel["summary"] == "Cancel a job" and "finished one is returned unchanged" in cancel["description"]
    )
