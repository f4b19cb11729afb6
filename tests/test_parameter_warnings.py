"""Unused-parameter warnings: shown by the editor (site and admin, after a save and in the live
preview) and returned by the API's create and PATCH, as warnings, never as errors."""

from __future__ import annotations

import pytest
from django.test import Client

from templates_app.models import Template

from .conftest import assert_accessible
from .editor_helpers import editor_post, fill_code
from .test_api import jwt_for

pytestmark = pytest.mark.django_db

UNUSED_YAML = "- name: topic\n  type: string\n- name: mood\n  type: string\n  required: false\n"


def api(client: Client, user, method: str, path: str, body: dict) -> dict:
    response = getattr(client, method)(
        f"/api/v1{path}",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {jwt_for(user)}"},
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


def test_api_create_and_patch_answer_with_warnings(client: Client, owner) -> None:
    body = {
        "slug": "warned",
        "name": "Warned",
        "body": "About {{ topic }}.",
        "parameters": [{"name": "topic", "type": "string"}, {"name": "mood", "type": "string"}],
    }
    created = api(client, owner, "post", "/templates", body)
    assert created["warnings"] == ["Parameter “mood”: the prompt never uses it."]
    assert created["version"] == 1  # saved all the same
    fixed = api(client, owner, "patch", "/templates/warned", {"body": "About {{ topic }}, {{ mood }}."})
    assert fixed["warnings"] == [] and fixed["version"] == 2
    # The system prompt counts as a use.
    renamed = api(client, owner, "patch", "/templates/warned", {"body": "{{ topic }}", "system_prompt": "x"})
    assert renamed["warnings"] == ["Parameter “mood”: the prompt never uses it."]
    used = api(client, owner, "patch", "/templates/warned", {"system_prompt": "In a {{ mood }} mood."})
    assert used["warnings"] == []
    # A GET is the plain representation, without warnings.
    plain = client.get("/api/v1/templates/warned", headers={"Authorization": f"Bearer {jwt_for(owner)}"})
    assert "warnings" not in plain.json()


def test_api_warnings_follow_accept_language(client: Client, owner, make_template) -> None:
    make_template(owner=owner, slug="mine")
    response = client.patch(
        "/api/v1/templates/mine",
        data={"body": "Only {{ topic }}."},
        content_type="application/json",
        headers={"Authorization": f"Bearer {jwt_for(owner)}", "Accept-Language": "pt-BR"},
    )
    [warning] = response.json()["warnings"]
    assert "count" in warning and "never uses" not in warning


def test_the_site_editor_warns_after_a_save_in_a_status_region(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    data = editor_post(template, **{"editor-body": "Only {{ topic }}."})
    page = client.post(f"/t/{template.slug}/edit/", data, follow=True)
    html = page.content.decode()
    assert template.versions.count() == 2  # a warning never stops the save
    assert 'role="status"' in html and "message--warning" in html
    assert "Warning: Parameter “count”: the prompt never uses it." in html


def test_the_admin_editor_warns_after_a_save(client: Client, make_template, staff) -> None:
    template = make_template()
    client.force_login(staff)
    url = f"/admin/templates_app/template/{template.pk}/editor/"
    data = editor_post(template, **{"editor-body": "Only {{ topic }}.", "action": "draft"})
    page = client.post(url, data, follow=True)
    assert template.versions.count() == 2
    assert "Warning: Parameter “count”: the prompt never uses it." in page.content.decode()


def test_the_live_preview_lists_warnings_out_of_band_into_the_status_region(client: Client, owner) -> None:
    client.force_login(owner)
    data = {
        "prefix": "editor",
        "editor-schema_format": "yaml",
        "editor-schema": UNUSED_YAML,
        "editor-body": "About {{ topic }}.",
    }
    html = client.post("/editor/preview/", data, headers={"HX-Request": "true"}).content.decode()
    assert 'name="mood"' in html  # the form is still built: a warning, not an error
    assert 'id="editor-warnings" hx-swap-oob="innerHTML"' in html and "data-preview-warnings" in html
    assert "Parameter “mood”: the prompt never uses it." in html and "data-preview-problems" not in html
    used = client.post(
        "/editor/preview/",
        data | {"editor-system_prompt": "{{ mood }}"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "data-preview-warnings" not in used and 'id="editor-warnings"' in used  # cleared


def test_the_editor_page_shows_the_saved_versions_warnings(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner, body="Only {{ topic }}.")
    client.force_login(owner)
    html = client.get(f"/t/{template.slug}/edit/").content.decode()
    assert '<div id="editor-warnings" role="status"' in html
    assert "Parameter “count”: the prompt never uses it." in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("locale", "word"), [("en-US", "never uses"), ("pt-BR", "nunca o usa")])
def test_preview_warnings_appear_while_typing_and_pass_axe(
    signed_in_page, live_server_url: str, make_template, owner, locale: str, word: str
) -> None:
    template: Template = make_template(owner=owner)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/t/{template.slug}/edit/")
    assert page.locator("[data-preview-warnings]").count() == 0
    fill_code(page, "id_editor-body", "Only {{ topic }}.")
    page.wait_for_function(
        "() => document.querySelector('#editor-warnings [data-preview-warnings]') !== null"
    )
    region = page.locator("#editor-warnings")
    assert region.get_attribute("role") == "status"
    assert "count" in region.inner_text() and word in region.inner_text()
    assert_accessible(page)
    fill_code(page, "id_editor-body", "{{ count }} lines on {{ topic }}.")
    page.wait_for_function(
        "() => document.querySelector('#editor-warnings [data-preview-warnings]') === null"
    )
    assert template.versions.count() == 1
