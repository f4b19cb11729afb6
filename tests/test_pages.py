"""The pages, through Django's test client: forms, access, and the job pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from jobs.models import Job, JobStatus
from templates_app.models import Visibility

from .conftest import SIMPLE_SCHEMA

pytestmark = pytest.mark.django_db


def test_home_lists_public_templates_to_anonymous_visitors(client: Client, make_template) -> None:
    make_template(slug="public-one")
    make_template(slug="secret", visibility=Visibility.PRIVATE)
    make_template(slug="members", visibility=Visibility.SIGNED_IN)
    page = client.get("/").content.decode()
    assert "Public-One" in page
    assert "Secret" not in page and "Members" not in page


def test_home_shows_signed_in_and_own_private_templates(
    client: Client, make_template, owner, other_user
) -> None:
    make_template(slug="mine", owner=owner, visibility=Visibility.PRIVATE)
    make_template(slug="members", visibility=Visibility.SIGNED_IN)
    client.force_login(other_user)
    page = client.get("/").content.decode()
    assert "Members" in page and "Mine" not in page
    client.force_login(owner)
    assert "Mine" in client.get("/").content.decode()


def test_private_template_is_404_for_everyone_but_its_owner(
    client: Client, make_template, owner, other_user
) -> None:
    template = make_template(slug="mine", owner=owner, visibility=Visibility.PRIVATE)
    url = template.get_absolute_url()
    assert client.get(url).status_code == 404
    assert client.post(url, {"topic": "x", "count": 2}).status_code == 404
    client.force_login(other_user)
    assert client.get(url).status_code == 404
    assert client.post(url, {"topic": "x", "count": 2}).status_code == 404
    client.force_login(owner)
    assert client.get(url).status_code == 200
    assert Job.objects.count() == 0


def test_signed_in_template_needs_an_account(client: Client, make_template, other_user) -> None:
    url = make_template(slug="members", visibility=Visibility.SIGNED_IN).get_absolute_url()
    assert client.get(url).status_code == 404
    client.force_login(other_user)
    assert client.get(url).status_code == 200


def test_form_is_generated_from_the_schema(client: Client, make_template) -> None:
    page = client.get(make_template().get_absolute_url()).content.decode()
    assert 'name="topic"' in page and 'maxlength="50"' in page
    assert 'name="count"' in page and 'min="1"' in page and 'max="5"' in page and 'value="3"' in page


def test_form_labels_follow_accept_language(client: Client, make_template) -> None:
    url = make_template().get_absolute_url()
    assert ">Topic<" in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert ">Assunto<" in client.get(url, HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()


def test_invalid_input_keeps_the_form_and_creates_no_job(client: Client, make_template) -> None:
    url = make_template().get_absolute_url()
    response = client.post(url, {"topic": "", "count": "9"})
    assert response.status_code == 200
    page = response.content.decode()
    assert Job.objects.count() == 0
    assert "<title>Error:" in page
    # The summary names each field; each error sits at its field and is tied to it.
    assert "Topic: This field is required." in page
    assert 'id="id_topic_error"' in page and 'aria-invalid="true"' in page
    assert 'aria-describedby="id_count_error"' in page
    assert 'value="9"' in page  # what the person typed is kept


def test_invalid_input_errors_are_translated(client: Client, make_template) -> None:
    response = client.post(make_template().get_absolute_url(), {"topic": ""}, HTTP_ACCEPT_LANGUAGE="pt-BR")
    page = response.content.decode()
    assert "Assunto: Este campo é obrigatório." in page
    assert "<title>Erro:" in page


def test_valid_submission_creates_one_queued_job_and_redirects(client: Client, make_template, owner) -> None:
    client.force_login(owner)
    template = make_template()
    response = client.post(template.get_absolute_url(), {"topic": "autumn", "count": "2"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.owner == owner and job.inputs == {"topic": "autumn", "count": 2}
    assert job.prompt == "Write 2 lines about autumn."
    assert job.template_version == template.published_version
    assert len(job.input_hash) == 64


def test_job_pages_are_private_to_their_owner(client: Client, make_template, owner, other_user) -> None:
    client.force_login(owner)
    client.post(make_template().get_absolute_url(), {"topic": "autumn", "count": "2"})
    job = Job.objects.get()
    assert client.get(job.get_absolute_url()).status_code == 200
    assert "Haiku" in client.get(reverse("jobs:list")).content.decode()
    client.force_login(other_user)
    assert client.get(job.get_absolute_url()).status_code == 404
    assert client.post(reverse("jobs:cancel", args=[job.id])).status_code == 404
    assert "Haiku" not in client.get(reverse("jobs:list")).content.decode()
    client.logout()
    assert client.get(job.get_absolute_url()).status_code == 404


def test_anonymous_jobs_belong_to_the_browser_session(client: Client, make_template) -> None:
    response = client.post(make_template().get_absolute_url(), {"topic": "rain", "count": "1"})
    job = Job.objects.get()
    assert job.owner is None and job.session_key
    assert client.get(response["Location"]).status_code == 200
    assert "Haiku" in client.get(reverse("jobs:list")).content.decode()
    stranger = Client()
    assert stranger.get(response["Location"]).status_code == 404
    assert "Haiku" not in stranger.get(reverse("jobs:list")).content.decode()


def test_signing_up_keeps_the_jobs_of_the_session(client: Client, make_template, mailoutbox) -> None:
    client.post(make_template().get_absolute_url(), {"topic": "rain", "count": "1"})
    response = client.post(
        reverse("accounts:register"),
        {"email": "New@Example.com"},
    )
    assert response.status_code == 302
    link = next(line for line in mailoutbox[0].body.splitlines() if "/accounts/confirm/" in line)
    chosen = {"name": "", "password1": "a long passphrase 42", "password2": "a long passphrase 42"}
    assert client.post(link.strip(), chosen).status_code == 302  # the same browser follows the e-mailed link
    job = Job.objects.get()
    assert job.owner is not None and job.owner.email == "new@example.com"
    assert client.get(job.get_absolute_url()).status_code == 200


def test_cancel_stops_a_queued_job(client: Client, make_template, owner) -> None:
    client.force_login(owner)
    client.post(make_template().get_absolute_url(), {"topic": "x", "count": "1"})
    job = Job.objects.get()
    Job.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    client.post(reverse("jobs:cancel", args=[job.id]))
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.finished_at is not None
    assert job.claim("a-task-id") is None  # a worker that picks it up later leaves it alone


def test_model_output_is_escaped_on_the_job_page(client: Client, make_template, owner) -> None:
    client.force_login(owner)
    client.post(make_template().get_absolute_url(), {"topic": "x", "count": "1"})
    job = Job.objects.get()
    Job.objects.filter(pk=job.pk).update(output="<script>alert(1)</script>", status=JobStatus.SUCCEEDED)
    page = client.get(job.get_absolute_url()).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_login_with_email_is_case_insensitive(client: Client, owner) -> None:
    response = client.post(
        reverse("accounts:login"), {"username": "OWNER@example.com", "password": "correct horse battery"}
    )
    assert response.status_code == 302


def test_logout_needs_post(client: Client, owner) -> None:
    client.force_login(owner)
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert client.post(reverse("accounts:logout")).status_code == 302


def test_health_reports_each_part(client: Client) -> None:
    from promptlab.heartbeat import record_worker_heartbeat

    body = client.get("/health/").json()
    assert body["status"] == "ok"
    assert (body["database"], body["cache"], body["broker"]) == ("ok", "ok", "ok")
    record_worker_heartbeat()
    assert client.get("/health/").json()["worker"] == "ok"


def test_health_is_degraded_when_the_broker_is_down(client: Client, monkeypatch) -> None:
    def broker_down() -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr("promptlab.views._broker", broker_down)
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["broker"] == "unavailable"


def test_form_runs_are_rate_limited_with_a_translated_message(
    client: Client, make_template, monkeypatch
) -> None:
    from promptlab import ratelimits

    monkeypatch.setattr(ratelimits, "ANONYMOUS_RATES", ("2/m", "100/h"))
    url = make_template().get_absolute_url()
    data = {"topic": "x", "count": "1"}
    statuses = [client.post(url, data, REMOTE_ADDR="192.0.2.44").status_code for _ in range(3)]
    assert statuses == [302, 302, 429]
    response = client.post(url, data, REMOTE_ADDR="192.0.2.44", HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert "Você executou templates vezes demais" in response.content.decode()
    assert Job.objects.count() == 2


def test_api_tokens_page_creates_shows_once_and_revokes(client: Client, owner, other_user) -> None:
    from accounts.models import PersonalToken

    assert client.get(reverse("accounts:tokens")).status_code == 302  # sign in first
    client.force_login(owner)
    created = client.post(reverse("accounts:tokens"), {"name": "nightly", "expires_in_days": "30"})
    assert created.status_code == 302 and created["Location"] == reverse("accounts:tokens")
    page = client.get(created["Location"]).content.decode()
    token = PersonalToken.objects.get()
    raw = page.split('id="new-token">')[1].split("<")[0]
    assert raw.startswith("pl_") and token.is_usable
    assert raw not in client.get(reverse("accounts:tokens")).content.decode()  # shown once
    client.force_login(other_user)
    assert client.get(reverse("accounts:revoke-token", args=[token.pk])).status_code == 404
    assert client.post(reverse("accounts:revoke-token", args=[token.pk])).status_code == 404
    client.force_login(owner)
    client.post(reverse("accounts:revoke-token", args=[token.pk]))
    token.refresh_from_db()
    assert not token.is_usable


def test_the_form_page_changes_exactly_when_a_new_version_is_published(client: Client, make_template) -> None:
    template = make_template()
    url = template.get_absolute_url()
    first = client.get(url).content.decode()
    assert client.get(url).content.decode().count('name="topic"') == 1  # the same page again
    template.create_version(
        body="{{ topic }} {{ count }}",
        parameters=[*SIMPLE_SCHEMA, {"name": "mood", "required": False}],
        publish=False,
    )
    assert 'name="mood"' not in client.get(url).content.decode()  # a draft changes nothing
    draft = template.versions.get(number=2)
    template.published_version = draft
    template.save()
    page = client.get(url).content.decode()
    assert 'name="mood"' in page and "Runs version 2" in page and page != first


def test_the_form_page_gives_each_visitor_a_working_csrf_token(make_template) -> None:
    url = make_template().get_absolute_url()
    tokens = []
    for _visitor in range(2):
        browser = Client(enforce_csrf_checks=True)
        page = browser.get(url).content.decode()
        token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
        assert f'"X-CSRFToken": "{token}"' in page
        tokens.append(token)
        response = browser.post(url, {"topic": "rain", "count": "2", "csrfmiddlewaretoken": token})
        assert response.status_code == 302
    assert tokens[0] != tokens[1]
    assert Job.objects.count() == 2


def test_the_form_page_never_shows_one_language_for_another(client: Client, make_template) -> None:
    url = make_template().get_absolute_url()
    assert ">Topic<" in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert ">Assunto<" in client.get(url, HTTP_ACCEPT_LANGUAGE="pt-BR").content.decode()
    assert ">Topic<" in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_a_renamed_template_shows_its_new_name_at_once(client: Client, make_template) -> None:
    template = make_template()
    client.get(template.get_absolute_url())
    template.name = "Autumn haiku"
    template.save()
    assert "Autumn haiku" in client.get(template.get_absolute_url()).content.decode()


def test_file_parameters_make_a_multipart_form_whose_upload_becomes_the_value(
    client: Client, make_template
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    template = make_template(
        parameters=[{"name": "notes", "type": "file", "extensions": [".txt"]}], body="Summarise: {{ notes }}"
    )
    page = client.get(template.get_absolute_url()).content.decode()
    assert 'enctype="multipart/form-data"' in page and 'accept=".txt"' in page
    response = client.post(template.get_absolute_url(), {"notes": SimpleUploadedFile("n.txt", b"Line one\n")})
    assert response.status_code == 302
    assert Job.objects.get().prompt == "Summarise: Line one\n"
    wrong = client.post(template.get_absolute_url(), {"notes": SimpleUploadedFile("n.pdf", b"x")})
    assert "The file must end in .txt." in wrong.content.decode()


# --- Signed-in visitors: each sees their own page, never another person's


def _csrf_from(page: str) -> str:
    return page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]


def test_each_signed_in_visitor_sees_their_own_address_and_rights(
    make_template, owner: User, other_user: User, staff: User
) -> None:
    template = make_template(owner=owner, visibility=Visibility.SIGNED_IN)
    url = template.get_absolute_url()
    pages = {}
    for user in (owner, other_user, staff, other_user, owner):
        browser = Client()
        browser.force_login(user)
        pages[user.email] = page = browser.get(url).content.decode()
        assert f"Signed in as {user.email}" in page
        others = {owner.email, other_user.email, staff.email} - {user.email}
        assert not any(email in page for email in others), user.email
        manages = user in (owner, staff)
        assert (f"/t/{template.slug}/edit/" in page) == manages, user.email
        assert ("/admin/" in page) == user.is_staff, user.email


def test_a_signed_in_page_gives_a_working_csrf_token_and_creates_the_job(
    make_template, owner: User, other_user: User
) -> None:
    url = make_template(owner=owner, visibility=Visibility.SIGNED_IN).get_absolute_url()
    tokens = []
    for user in (owner, other_user):
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(user)
        page = browser.get(url).content.decode()
        token = _csrf_from(page)
        assert f'"X-CSRFToken": "{token}"' in page
        tokens.append(token)
        assert browser.post(url, {"topic": "rain", "count": "2"}).status_code == 403  # no token: refused
        response = browser.post(url, {"topic": "rain", "count": "2", "csrfmiddlewaretoken": token})
        assert response.status_code == 302
    assert tokens[0] != tokens[1]
    assert sorted(Job.objects.values_list("owner__email", flat=True)) == sorted(
        [owner.email, other_user.email]
    )


def test_the_signed_in_page_follows_visibility_changes_at_once(
    client: Client, make_template, owner, other_user
) -> None:
    template = make_template(owner=owner, visibility=Visibility.PRIVATE)
    url = template.get_absolute_url()
    client.force_login(owner)
    assert client.get(url).status_code == 200
    client.force_login(other_user)
    assert client.get(url).status_code == 404  # seen by the owner, still private
    template.visibility = Visibility.SIGNED_IN
    template.save()
    assert client.get(url).status_code == 200
    template.visibility = Visibility.PRIVATE
    template.save()
    assert client.get(url).status_code == 404


def test_the_signed_in_page_follows_publishing_and_staff_changes(
    client: Client, make_template, owner
) -> None:
    template = make_template(owner=owner)
    url = template.get_absolute_url()
    client.force_login(owner)
    assert "Runs version 1" in client.get(url).content.decode()
    template.create_version(body="{{ topic }} {{ count }}", parameters=SIMPLE_SCHEMA)
    assert "Runs version 2" in client.get(url).content.decode()
    owner.is_staff = True
    owner.save()
    assert "/admin/" in client.get(url).content.decode()


def test_an_email_with_markup_is_escaped_on_the_form_page(make_template) -> None:
    user = User.objects.create_user("o'<b>x</b>@example.com", "correct horse battery")
    url = make_template().get_absolute_url()
    for _ in range(2):
        browser = Client()
        browser.force_login(user)
        page = browser.get(url).content.decode()
        assert "<b>x</b>" not in page and "o&#x27;&lt;b&gt;x&lt;/b&gt;@example.com" in page


@pytest.mark.needs_redis  # counts queries: on the embedded defaults the cache itself is the database
def test_the_form_page_reads_the_template_in_one_query(
    client: Client, make_template, owner, other_user, django_assert_max_num_queries
) -> None:
    url = make_template(owner=owner).get_absolute_url()
    client.get(url)
    with django_assert_max_num_queries(1):  # the template with its published version
        assert "Runs version 1" in client.get(url).content.decode()
    client.force_login(other_user)
    client.get(url)
    # And the session, its user and their workspaces (the header's switcher); their role in
    # the template's workspace comes with the template (with_viewer_role).
    with django_assert_max_num_queries(4):
        assert "Runs version 1" in client.get(url).content.decode()
    client.force_login(owner)
    client.get(url)
    # And the month's figures, which its managers see: day rows for the whole days, hour
    # rows for the partial ones (two queries that stay small however many jobs ran).
    # (And the switcher's, as above, and the budgets that apply to a member: one query.)
    with django_assert_max_num_queries(7):
        assert "Runs version 1" in client.get(url).content.decode()


def test_a_query_string_changes_nothing_on_the_form_page(client: Client, make_template) -> None:
    url = make_template().get_absolute_url()
    page = client.get(url).content.decode()
    for n in range(3):
        response = client.get(f"{url}?x={n}")
        assert response.status_code == 200 and 'name="topic"' in response.content.decode()
    assert 'name="topic"' in page


def test_a_refused_run_says_so_once(client: Client, make_template, monkeypatch) -> None:
    from promptlab import ratelimits

    monkeypatch.setattr(ratelimits, "ANONYMOUS_RATES", ("1/m", "100/h"))
    url = make_template().get_absolute_url()
    client.post(url, {"topic": "x", "count": "1"}, REMOTE_ADDR="192.0.2.45")
    refused = client.post(url, {"topic": "mine", "count": "1"}, REMOTE_ADDR="192.0.2.45")
    assert refused.status_code == 429 and "too often" in refused.content.decode()
    assert 'value="mine"' in refused.content.decode()  # what was sent is kept
    assert "too often" not in client.get(url).content.decode()


def test_a_refused_run_keeps_what_was_typed_and_does_not_look_at_the_upload(
    client: Client, make_template, monkeypatch
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from promptlab import ratelimits

    monkeypatch.setattr(ratelimits, "ANONYMOUS_RATES", ("1/m", "100/h"))
    parameters = [
        {"name": "topic", "type": "text"},
        {"name": "notes", "type": "file", "extensions": [".txt"]},
    ]
    url = make_template(parameters=parameters, body="{{ topic }}: {{ notes }}").get_absolute_url()
    sent = {"topic": "mine", "notes": SimpleUploadedFile("n.txt", b"Line one\n")}
    assert client.post(url, sent, REMOTE_ADDR="192.0.2.46").status_code == 302
    refused = client.post(
        url, {"topic": "again", "notes": SimpleUploadedFile("n.pdf", b"x")}, REMOTE_ADDR="192.0.2.46"
    )
    page = refused.content.decode()
    assert refused.status_code == 429 and "too often" in page and "again</textarea>" in page
    assert "The file must end in .txt." not in page  # the upload was not looked at
    assert Job.objects.count() == 1


@pytest.mark.parametrize("depth", [3000, 500])
def test_a_deeply_nested_json_value_is_a_form_error_not_a_500(
    client: Client, make_template, depth: int
) -> None:
    url = make_template(parameters=[{"name": "data", "type": "json"}], body="{{ data }}").get_absolute_url()
    response = client.post(url, {"data": "[" * depth + "]" * depth})
    assert response.status_code == 200
    assert "The JSON is nested too deeply." in response.content.decode()
    assert not Job.objects.exists()


def test_an_oversized_site_post_is_refused_before_it_is_read(client: Client, make_template, settings) -> None:
    settings.SITE_MAX_BODY_BYTES = 1000
    url = make_template().get_absolute_url()
    response = client.post(url, {"topic": "x" * 2000}, HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert response.status_code == 413 and "A requisição é grande demais" in response.content.decode()
    # English last: the language a request activates outlives it in this thread.
    response = client.post(url, {"topic": "x" * 2000, "count": "2"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 413
    assert "The request is too large (at most 1000 bytes)." in response.content.decode()
    assert not Job.objects.exists()
