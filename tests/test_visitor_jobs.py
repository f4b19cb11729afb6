"""An anonymous visitor's jobs follow them into the account they sign in to, by any door."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from jobs.models import Job

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def run_anonymously(client: Client, template) -> Job:  # type: ignore[no-untyped-def]
    response = client.post(template.get_absolute_url(), {"topic": "rain", "count": "1"})
    assert response.status_code == 302
    return Job.objects.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[-1])


def sign_in(client: Client, email: str, *, url: str | None = None) -> None:
    response = client.post(url or reverse("accounts:login"), {"username": email, "password": PASSWORD})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


def test_signing_in_takes_the_sessions_jobs_and_no_one_elses(make_template, owner: User) -> None:
    template = make_template()
    browser, stranger = Client(), Client()
    mine = run_anonymously(browser, template)
    theirs = run_anonymously(stranger, make_template(slug="other"))
    key_before = browser.session.session_key

    sign_in(browser, owner.email)

    assert browser.session.session_key != key_before  # login cycled the key, the jobs followed anyway
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.owner == owner and mine.session_key == ""
    assert theirs.owner is None and theirs.session_key
    assert browser.get(mine.get_absolute_url()).status_code == 200
    assert browser.get(theirs.get_absolute_url()).status_code == 404
    assert stranger.get(theirs.get_absolute_url()).status_code == 200


def test_signing_in_through_the_admin_takes_the_jobs_too(make_template) -> None:
    staff = User.objects.create_user("staff@example.com", PASSWORD, is_staff=True)
    browser = Client()
    job = run_anonymously(browser, make_template())
    browser.post(reverse("admin:login"), {"username": staff.email, "password": PASSWORD})
    job.refresh_from_db()
    assert job.owner == staff


def test_jobs_run_after_signing_out_go_to_the_next_account_only(
    make_template, owner: User, other_user: User
) -> None:
    template = make_template()
    browser = Client()
    first = run_anonymously(browser, template)
    sign_in(browser, owner.email)
    browser.post(reverse("accounts:logout"))
    assert "_auth_user_id" not in browser.session
    second = run_anonymously(browser, make_template(slug="second"))

    sign_in(browser, other_user.email)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.owner, second.owner) == (owner, other_user)


def test_a_signed_in_run_is_owned_at_once_and_marks_no_visitor_session(make_template, owner: User) -> None:
    browser = Client()
    browser.force_login(owner)
    job = run_anonymously(browser, make_template())
    assert job.owner == owner and job.session_key == ""
    assert "jobs.visitor_session" not in browser.session
