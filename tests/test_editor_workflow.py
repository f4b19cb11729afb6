"""The editor's working day: where it starts after a rollback, parameters the prompt
uses but the schema lacks, test runs of a draft, and the theme fields' errors."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from jobs import services
from jobs.models import Job, JobStatus
from templates_app.editor import schema_text_with_parameter

from .editor_helpers import editor_post

pytestmark = pytest.mark.django_db

INPUTS = {"topic": "sea", "count": 3}


# --- Rollback trap -----------------------------------------------------------------


def test_after_a_rollback_a_theme_only_save_keeps_the_rolled_back_text(
    client: Client, make_template, owner
) -> None:
    template = make_template(owner=owner)
    first = template.published_version
    template.create_version(author=owner, body="Changed {{ topic }} {{ count }}", parameters=first.parameters)
    client.force_login(owner)
    client.post(f"/t/{template.slug}/v1/publish/")  # "Roll back to version 1"
    template.refresh_from_db()
    assert template.published_version == first

    page = client.get(f"/t/{template.slug}/edit/").content.decode()
    assert "Changed {{ topic }}" not in page
    assert "published before, then rolled back" in page  # it asks, offering version 2
    data = editor_post(template, **{"editor-primary": "#7c2d12"})
    data |= {f"editor-{key}": value for key, value in _form_of(first).items()}
    data |= {"editor-primary": "#7c2d12", "base": "1"}
    client.post(f"/t/{template.slug}/edit/", data)

    template.refresh_from_db()
    published = template.published_version
    assert published.number == 3
    assert published.body == first.body  # not version 2's text, which the rollback removed
    assert published.theme["primary"] == "#7c2d12"


def test_the_editor_starts_from_a_draft_never_published_and_from_any_version_asked(
    client: Client, make_template, owner
) -> None:
    template = make_template(owner=owner)
    first = template.published_version
    template.create_version(
        author=owner, body="Draft {{ topic }} {{ count }}", parameters=first.parameters, publish=False
    )
    client.force_login(owner)
    assert "Draft {{ topic }}" in client.get(f"/t/{template.slug}/edit/").content.decode()
    page = client.get(f"/t/{template.slug}/edit/?from=1").content.decode()
    assert "Draft {{ topic }}" not in page
    assert 'name="base" value="1"' in page


def _form_of(version) -> dict[str, str]:
    from templates_app.editor import initial_for

    return {key: "" if value is None else str(value) for key, value in initial_for(version).items()}


# --- Parameters the prompt uses but the schema lacks ---------------------------------


def test_the_preview_shows_at_once_a_parameter_the_schema_lacks_and_offers_to_add_it(
    client: Client, owner
) -> None:
    client.force_login(owner)
    response = client.post(
        "/editor/preview/",
        {"prefix": "editor", "editor-body": "About {{ topic }} for {{ reader }}", "editor-schema": ""},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert "data-preview-missing" in html
    assert 'name="add_parameter" value="reader"' in html
    assert 'name="add_parameter" value="topic"' in html


def test_the_add_button_without_javascript_adds_the_parameter_and_saves_nothing(
    client: Client, owner
) -> None:
    client.force_login(owner)
    data = {
        "meta-name": "New",
        "meta-slug": "new",
        "meta-visibility": "private",
        "editor-body": "About {{ topic }}",
        "editor-schema_format": "yaml",
        "editor-schema": "# my comment\n",
        "editor-provider": "offline",
        "editor-model": "offline-echo",
        "editor-temperature": "0.7",
        "editor-max_tokens": "100",
        "add_parameter": "topic",
    }
    response = client.post("/templates/new/", data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "- name: topic" in html and "# my comment" in html
    assert "data-preview-missing" not in html
    from templates_app.models import Template

    assert not Template.objects.exists()


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        (
            "# keep me\n- name: a\n  type: string\n",
            "yaml",
            "# keep me\n- name: a\n  type: string\n- name: b\n  type: string\n",
        ),
        ("", "yaml", "- name: b\n  type: string\n"),
        ("[{name: a, type: string}]", "yaml", "- name: a\n  type: string\n- name: b\n  type: string\n"),
        ('[{"name": "a", "type": "string"}]', "json", None),
    ],
)
def test_a_parameter_is_added_to_the_schema_text_keeping_the_authors_yaml(
    text: str, fmt: str, expected
) -> None:
    result = schema_text_with_parameter(text, fmt, "b")
    if fmt == "json":
        assert json.loads(result) == [{"name": "a", "type": "string"}, {"name": "b", "type": "string"}]
    else:
        assert result == expected


def test_a_name_yaml_would_read_as_a_boolean_is_quoted() -> None:
    assert schema_text_with_parameter("- name: a\n  type: string\n", "yaml", "yes").endswith(
        "- name: 'yes'\n  type: string\n"
    )


# --- Draft test runs -------------------------------------------------------------------


def _succeed(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, output="done", finished_at=timezone.now()
    )


def test_a_draft_run_never_answers_or_is_answered_by_published_runs(make_template, owner) -> None:
    template = make_template(owner=owner)
    version = template.published_version
    published = services.submit_generation(version, INPUTS, owner=owner)
    _succeed(published)
    draft = services.submit_generation(version, INPUTS, owner=owner, draft_run=True)
    assert draft.draft_run and draft.cached_from is None and draft.leader is None
    _succeed(draft)
    Job.objects.filter(pk=published.pk).delete()
    again = services.submit_generation(version, INPUTS, owner=owner)
    assert again.cached_from_id is None  # the draft run's result is not the form's
    _succeed(again)
    twin = services.submit_generation(version, INPUTS, owner=owner, draft_run=True)
    assert twin.cached_from_id == draft.pk  # test runs may share among themselves


def test_only_a_manager_may_test_run_a_draft(client: Client, make_template, owner, other_user) -> None:
    template = make_template(owner=owner)
    version = template.published_version
    template.create_version(
        author=owner, body="Draft {{ topic }} {{ count }}", parameters=version.parameters, publish=False
    )
    url = f"/t/{template.slug}/v2/test-run/"
    assert client.post(url, {"topic": "sea", "count": "3"}).status_code == 404
    client.force_login(other_user)
    assert client.post(url, {"topic": "sea", "count": "3"}).status_code == 404
    assert not Job.objects.exists()

    client.force_login(owner)
    response = client.post(url, {"topic": "sea", "count": "3"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.draft_run and job.template_version.number == 2
    assert "data-draft-run" in client.get(job.get_absolute_url()).content.decode()


def test_a_test_run_with_bad_values_shows_the_errors_on_the_preview(
    client: Client, make_template, owner
) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    response = client.post(f"/t/{template.slug}/v1/test-run/", {"topic": "", "count": "9"})
    assert response.status_code == 200
    assert "data-error-summary" in response.content.decode()
    assert not Job.objects.exists()


def test_save_and_test_run_saves_a_draft_and_opens_its_preview(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    data = editor_post(template, **{"editor-body": "New {{ topic }} {{ count }}", "action": "test_run"})
    response = client.post(f"/t/{template.slug}/edit/", data)
    assert response["Location"] == f"/t/{template.slug}/v2/preview/"
    template.refresh_from_db()
    assert template.published_version.number == 1


# --- Theme fields ------------------------------------------------------------------------


def test_a_contrast_error_is_shown_at_the_colour_at_fault_and_linked_from_the_summary(
    client: Client, make_template, owner
) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    data = editor_post(template, **{"editor-text": "#eeeeee"})
    html = client.post(f"/t/{template.slug}/edit/", data).content.decode()
    assert 'id="id_editor-text_error"' in html
    assert 'href="#id_editor-text"' in html


def test_each_colour_field_shows_its_own_default(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    html = client.get(f"/t/{template.slug}/edit/").content.decode()
    assert 'placeholder="#1d4ed8"' in html and 'placeholder="#1b1f24"' in html


# --- In the browser ------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_rollback_then_edit_and_a_draft_test_run_in_chromium(
    signed_in_page, live_server_url: str, make_template, owner, locale: str
) -> None:
    from .conftest import assert_accessible

    template = make_template(owner=owner)
    first = template.published_version
    template.create_version(author=owner, body="Changed {{ topic }} {{ count }}", parameters=first.parameters)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/t/{template.slug}/history/")
    page.locator("#v1 button[type=submit]").click()
    page.wait_for_load_state()
    page.goto(f"{live_server_url}/t/{template.slug}/edit/")
    assert page.locator("#id_editor-body").input_value() == first.body
    assert page.locator("[data-start-from]").count() == 1
    assert_accessible(page)
    page.locator("#id_editor-primary").fill("#7c2d12")
    page.locator("button[name=action][value=test_run]").click()
    page.wait_for_url(f"**/t/{template.slug}/v3/preview/")
    assert_accessible(page)
    page.locator("[name=topic]").fill("sea")
    page.locator("[data-test-run]").click()
    page.wait_for_url("**/jobs/*/")
    assert page.locator("[data-draft-run]").count() == 1
    assert_accessible(page)
    template.refresh_from_db()
    assert template.published_version.number == 1
    assert template.versions.get(number=3).body == first.body
