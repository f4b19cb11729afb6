"""Versions: numbering, drafts and their preview, publish and roll back, the history with diffs."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from jobs.services import submit_generation
from templates_app.models import Template, TemplateVersion

pytestmark = pytest.mark.django_db

NEW_SCHEMA = [
    {"name": "topic", "type": "string", "label": {"en": "Topic", "pt": "Assunto"}, "max_length": 50},
    {"name": "count", "type": "integer", "label": "Count", "min": 1, "max": 5, "default": 3},
    {"name": "mood", "type": "string", "label": {"en": "Mood", "pt": "Humor"}, "required": False},
]
NEW_BODY = "Write {{ count }} {{ mood }} lines about {{ topic }}."


def add_draft(template: Template, author: User | None = None, **content) -> TemplateVersion:
    content = {"body": NEW_BODY, "parameters": NEW_SCHEMA, **content}
    return template.create_version(author=author, publish=False, **content)


def test_versions_are_numbered_in_order_and_immutable(make_template, owner) -> None:
    template = make_template(owner=owner)
    second = add_draft(template, owner)
    third = template.create_version(author=owner, body="Only {{ topic }} {{ count }}", parameters=NEW_SCHEMA)
    assert [v.number for v in template.versions.order_by("number")] == [1, 2, 3]
    assert (second.number, third.number) == (2, 3)
    third.body = "changed"
    with pytest.raises(ValueError, match="immutable"):
        third.save()


def test_a_draft_leaves_the_published_version_serving(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    draft = add_draft(template, owner)
    template.refresh_from_db()
    assert template.published_version.number == 1
    assert template.draft_version == draft
    page = client.get(template.get_absolute_url()).content.decode()
    assert 'name="mood"' not in page and "Runs version 1" in page


def test_a_job_keeps_the_version_it_ran(make_template, owner) -> None:
    template = make_template(owner=owner)
    job = submit_generation(template.published_version, {"topic": "sea", "count": 2}, owner=owner)
    template.create_version(author=owner, body=NEW_BODY, parameters=NEW_SCHEMA)
    job.refresh_from_db()
    assert job.template_version.number == 1


def test_draft_preview_is_for_the_owner_and_staff_only(
    client: Client, make_template, owner, other_user, staff
) -> None:
    template = make_template(owner=owner)
    draft = add_draft(template, owner)
    url = f"/t/{template.slug}/v{draft.number}/preview/"
    assert client.get(url).status_code == 404
    client.force_login(other_user)
    assert client.get(url).status_code == 404
    client.force_login(owner)
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="mood"' in page and "which is not published" in page
    client.force_login(staff)
    assert client.get(url).status_code == 200


def test_submitting_a_preview_checks_values_and_runs_nothing(client: Client, make_template, owner) -> None:
    from jobs.models import Job

    template = make_template(owner=owner)
    add_draft(template, owner)
    client.force_login(owner)
    response = client.post(f"/t/{template.slug}/v2/preview/", {"topic": "sea", "count": 9})
    assert "Ensure this value is less than or equal to 5." in response.content.decode()
    response = client.post(f"/t/{template.slug}/v2/preview/", {"topic": "sea", "count": 2})
    assert "These values are valid." in response.content.decode()
    assert Job.objects.count() == 0


def test_publishing_switches_the_served_form_at_once(client: Client, make_template, owner) -> None:
    """The cached form is keyed by content, so publishing serves the new one on the next request."""
    template = make_template(owner=owner)
    url = template.get_absolute_url()
    for _ in range(2):  # the second request is served from the form cache
        assert 'name="mood"' not in client.get(url).content.decode()
    draft = add_draft(template, owner)
    client.force_login(owner)
    response = client.post(f"/t/{template.slug}/v{draft.number}/publish/")
    assert response.status_code == 302
    client.logout()
    page = client.get(url).content.decode()
    assert 'name="mood"' in page and "Runs version 2" in page
    # And in Portuguese, its own cache entry.
    assert "Humor" in client.get(url, headers={"accept-language": "pt-br"}).content.decode()


def test_rolling_back_is_one_post_and_serves_the_old_form(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    template.create_version(author=owner, body=NEW_BODY, parameters=NEW_SCHEMA)
    assert 'name="mood"' in client.get(template.get_absolute_url()).content.decode()
    client.force_login(owner)
    response = client.post(f"/t/{template.slug}/v1/publish/", follow=True)
    assert "Rolled back to version 1." in response.content.decode()
    template.refresh_from_db()
    assert template.published_version.number == 1
    assert template.versions.count() == 2  # nothing is rewritten
    assert 'name="mood"' not in client.get(template.get_absolute_url()).content.decode()


def test_publish_needs_post_csrf_and_the_owner(make_template, owner, other_user) -> None:
    template = make_template(owner=owner)
    add_draft(template, owner)
    url = f"/t/{template.slug}/v2/publish/"
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    other = Client()
    other.force_login(other_user)
    assert other.post(url).status_code == 404
    assert Client().post(url).status_code == 404
    template.refresh_from_db()
    assert template.published_version.number == 1


def test_history_shows_each_version_with_author_and_diff(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    add_draft(template, owner, temperature="0.30")
    client.force_login(owner)
    response = client.get(f"/t/{template.slug}/history/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Version 2" in page and "Version 1" in page and "owner@example.com" in page
    assert "draft" in page and "published" in page
    # Changes are marked in words and symbols, not only colour.
    added = "<ins>Write {{ count }} {{ mood }} lines about {{ topic }}.</ins>"
    assert f'<span class="visually-hidden">Added: </span>{added}' in page
    assert (
        '<span class="visually-hidden">Removed: </span><del>Write {{ count }} lines about {{ topic }}.</del>'
        in page
    )
    assert "<ins>- name: mood</ins>" in page
    assert (
        "<del>temperature: &#x27;0.70&#x27;</del>" in page
        and "<ins>temperature: &#x27;0.30&#x27;</ins>" in page
    )
    assert "Prompt body changed" in page and "Parameters changed" in page and "Model settings changed" in page
    assert "Theme changed" not in page.split('id="v1"')[0]


def test_history_is_404_for_others(client: Client, make_template, owner, other_user) -> None:
    template = make_template(owner=owner)
    assert client.get(f"/t/{template.slug}/history/").status_code == 404
    client.force_login(other_user)
    assert client.get(f"/t/{template.slug}/history/").status_code == 404


def test_a_theme_change_is_a_new_version_with_its_diff(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    version = template.published_version
    template.create_version(
        author=owner, body=version.body, parameters=version.parameters, theme={"radius": 0}
    )
    client.force_login(owner)
    page = client.get(f"/t/{template.slug}/history/").content.decode()
    assert "Theme changed" in page and "<ins>radius: 0</ins>" in page


# --- Template.save_content: the one rule for edited content -----------------------


def test_save_content_fills_what_is_not_given_from_the_published_version(make_template, owner) -> None:
    template = make_template(owner=owner)
    template.create_version(
        author=owner, body="Published {{ topic }} {{ count }}", parameters=NEW_SCHEMA, temperature="1.5"
    )
    add_draft(template, owner, body="Draft {{ topic }} {{ count }} {{ mood }}")
    saved = template.save_content({"max_tokens": 99}, author=owner, publish=True)
    assert saved.created and saved.published and saved.version.number == 4
    version = TemplateVersion.objects.get(pk=saved.version.pk)
    assert version.max_tokens == 99 and str(version.temperature) == "1.50"
    assert version.body == "Published {{ topic }} {{ count }}"  # not the draft's
    template.refresh_from_db()
    assert template.published_version == version


def test_save_content_makes_no_version_when_nothing_changed(make_template, owner) -> None:
    template = make_template(owner=owner)
    published = template.published_version
    draft = add_draft(template, owner)
    unchanged = template.save_content({"body": published.body}, author=owner, publish=True)
    assert (unchanged.version, unchanged.created, unchanged.published) == (published, False, False)
    kept = template.save_content(draft.content(), author=owner, publish=False, base=draft)
    assert (kept.version, kept.created, kept.published) == (draft, False, False)
    assert template.versions.count() == 2
    template.refresh_from_db()
    assert template.published_version == published  # no new version, nothing published


def test_saving_a_drafts_content_to_publish_publishes_the_draft(make_template, owner) -> None:
    template = make_template(owner=owner)
    draft = add_draft(template, owner)
    saved = template.save_content(draft.content(), author=owner, publish=True, base=draft)
    assert (saved.version, saved.created, saved.published) == (draft, False, True)
    template.refresh_from_db()
    assert template.published_version == draft and template.versions.count() == 2
    # Published already: the same content again publishes nothing more.
    again = template.save_content(draft.content(), author=owner, publish=True, base=draft)
    assert (again.created, again.published) == (False, False)


def test_a_template_with_nothing_published_publishes_its_first_save(make_template, owner) -> None:
    template = Template.objects.create(slug="empty", name="Empty", owner=owner)
    saved = template.save_content({"body": "Hello."}, author=owner, publish=False)
    assert saved.created and saved.published
    template.refresh_from_db()
    assert template.published_version == saved.version


def test_save_content_compares_with_the_base_it_is_given(make_template, owner) -> None:
    template = make_template(owner=owner)
    draft = add_draft(template, owner)
    # The published body against the draft as base is a change: a new draft from the draft.
    saved = template.save_content(
        {"body": template.published_version.body}, author=owner, publish=False, base=draft
    )
    assert saved.created and not saved.published
    assert saved.version.number == 3 and saved.version.parameters == NEW_SCHEMA
    template.refresh_from_db()
    assert template.published_version.number == 1


def test_save_content_refuses_what_is_not_version_content(make_template, owner) -> None:
    template = make_template(owner=owner)
    with pytest.raises(ValueError, match="slug"):
        template.save_content({"slug": "other"}, author=owner, publish=True)
    assert template.versions.count() == 1
