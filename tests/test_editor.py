"""The template editor: on the site for owners, in the admin for staff, with a live (htmx) preview."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import translation

from templates_app.editor import VersionForm
from templates_app.models import Template
from templates_app.theme import COLOUR_KEYS

from .conftest import assert_accessible
from .editor_helpers import editor_post, fill_code

pytestmark = pytest.mark.django_db

SCHEMA_YAML = """\
- name: topic
  type: string
  label: {en: Topic, pt: Assunto}
  max_length: 50
- name: count
  type: integer
  label: {en: How many lines, pt: Quantas linhas}
  min: 1
  max: 5
  default: 3
"""


def new_template_post(**overrides: str) -> dict[str, str]:
    data = {
        "meta-name": "Sea poems",
        "meta-slug": "sea-poems",
        "meta-description": "",
        "meta-visibility": "public",
        "editor-body": "Write {{ count }} lines about {{ topic }}.",
        "editor-system_prompt": "",
        "editor-schema_format": "yaml",
        "editor-schema": SCHEMA_YAML,
        "editor-provider": "offline",
        "editor-model": "offline-echo",
        "editor-temperature": "0.7",
        "editor-max_tokens": "1024",
        "action": "draft",
    }
    return data | overrides


def test_an_owner_creates_a_template_from_yaml(client: Client, owner) -> None:
    client.force_login(owner)
    assert client.get("/templates/new/").status_code == 200
    response = client.post("/templates/new/", new_template_post())
    assert response.status_code == 302
    template = Template.objects.get(slug="sea-poems")
    assert template.owner == owner and template.published_version.number == 1
    assert template.published_version.parameters[1] == {
        "name": "count", "type": "integer", "label": {"en": "How many lines", "pt": "Quantas linhas"},
        "min": 1, "max": 5, "default": 3,
    }  # fmt: skip
    assert (
        "Quantas linhas" in client.get("/t/sea-poems/", headers={"accept-language": "pt-br"}).content.decode()
    )


def test_the_schema_may_be_json(client: Client, owner) -> None:
    client.force_login(owner)
    schema = json.dumps([{"name": "topic", "type": "string"}, {"name": "count", "type": "integer"}])
    response = client.post(
        "/templates/new/", new_template_post(**{"editor-schema_format": "json", "editor-schema": schema})
    )
    assert response.status_code == 302
    assert [p["name"] for p in Template.objects.get().published_version.parameters] == ["topic", "count"]


def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    response = client.get("/templates/new/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_yaml_syntax_errors_give_the_line(client: Client, owner) -> None:
    client.force_login(owner)
    broken = "- name: topic\n  type: string\n - name: count\n"
    response = client.post("/templates/new/", new_template_post(**{"editor-schema": broken}))
    assert response.status_code == 200
    page = response.content.decode()
    assert "YAML error at line 3" in page and "<title>Error:" in page
    assert not Template.objects.exists()


def test_json_syntax_errors_give_the_line(client: Client, owner) -> None:
    client.force_login(owner)
    response = client.post(
        "/templates/new/",
        new_template_post(**{"editor-schema_format": "json", "editor-schema": '[{"name": }]'}),
    )
    assert response.status_code == 200
    assert "JSON error at line 1, column 11" in response.content.decode()


def test_schema_errors_name_the_parameter(client: Client, owner) -> None:
    client.force_login(owner)
    bad = SCHEMA_YAML.replace("min: 1", "min: 9")
    response = client.post("/templates/new/", new_template_post(**{"editor-schema": bad}))
    assert response.status_code == 200
    page = response.content.decode()
    # The error sits under the schema field and is tied to it for assistive technology.
    assert (
        'id="id_editor-schema_error"' in page
        and 'aria-describedby="id_editor-schema_helptext id_editor-schema_error"' in page
    )
    errors = page.split('id="id_editor-schema_error"')[1].split("</ul>")[0]
    assert "count" in errors
    assert not Template.objects.exists()


def test_a_body_naming_an_unknown_parameter_is_refused_at_the_body(client: Client, owner) -> None:
    client.force_login(owner)
    response = client.post("/templates/new/", new_template_post(**{"editor-body": "About {{ subject }}"}))
    assert response.status_code == 200
    assert "subject" in response.content.decode().split('id="id_editor-body_error"')[1][:300]


def test_editing_saves_a_draft_or_publishes(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    edited = editor_post(
        template, **{"editor-body": "Just {{ count }} about {{ topic }}.", "action": "draft"}
    )
    assert client.post(f"/t/{template.slug}/edit/", edited).status_code == 302
    template.refresh_from_db()
    assert template.published_version.number == 1 and template.draft_version.number == 2
    # The editor starts from the draft; publishing it unchanged publishes it without a new version.
    assert "Just {{ count }}" in client.get(f"/t/{template.slug}/edit/").content.decode()
    again = editor_post(template, action="publish")
    client.post(f"/t/{template.slug}/edit/", again)
    template.refresh_from_db()
    assert template.published_version.number == 2 and template.versions.count() == 2


def test_saving_nothing_new_makes_no_version(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    response = client.post(f"/t/{template.slug}/edit/", editor_post(template, action="draft"), follow=True)
    assert "Nothing in the content changed" in response.content.decode()
    assert template.versions.count() == 1


def test_only_the_owner_or_staff_may_edit(client: Client, make_template, owner, other_user, staff) -> None:
    template = make_template(owner=owner)
    client.force_login(other_user)
    assert client.get(f"/t/{template.slug}/edit/").status_code == 404
    assert client.post(f"/t/{template.slug}/edit/", editor_post(template)).status_code == 404
    client.force_login(staff)
    assert client.get(f"/t/{template.slug}/edit/").status_code == 200


def test_the_htmx_preview_renders_the_form_fragment_in_each_language(client: Client, owner) -> None:
    client.force_login(owner)
    data = {"prefix": "editor", "editor-schema_format": "yaml", "editor-schema": SCHEMA_YAML}
    response = client.post(
        "/editor/preview/", data | {"preview_language": "en"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'name="topic"' in html and "How many lines" in html and 'max="5"' in html and 'lang="en"' in html
    pt = client.post("/editor/preview/", data | {"preview_language": "pt-br"}, headers={"HX-Request": "true"})
    assert "Quantas linhas" in pt.content.decode() and "How many lines" not in pt.content.decode()
    assert 'lang="pt-br"' in pt.content.decode()


def test_the_htmx_preview_lists_schema_errors(client: Client, owner) -> None:
    client.force_login(owner)
    data = {
        "prefix": "editor",
        "editor-schema_format": "yaml",
        "editor-schema": "- name: x\n  type: colour\n",
    }
    html = client.post("/editor/preview/", data, headers={"HX-Request": "true"}).content.decode()
    assert "data-preview-problems" in html and "x" in html and "colour" in html


def test_the_preview_endpoint_needs_a_signed_in_user(client: Client) -> None:
    assert client.post("/editor/preview/", {"editor-schema": SCHEMA_YAML}).status_code in (403, 404)


def test_the_admin_editor_saves_a_version(client: Client, make_template, staff) -> None:
    template = make_template()
    client.force_login(staff)
    url = f"/admin/templates_app/template/{template.pk}/editor/"
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'hx-post="/editor/preview/"' in html and 'name="editor-schema"' in html
    change_page = client.get(f"/admin/templates_app/template/{template.pk}/change/").content.decode()
    assert f'href="{url}"' in change_page  # the change page links the editor
    data = editor_post(template, **{"editor-schema": SCHEMA_YAML, "action": "draft"})
    response = client.post(url, data)
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.draft_version.number == 2 and template.draft_version.created_by == staff
    # The same words as the site's editor: one save flow for both.
    said = client.get(response["Location"]).content.decode()
    assert "Saved version 2 as a draft; the form still serves the published version." in said


def test_both_editors_say_the_same_after_each_kind_of_save(client: Client, make_template, staff) -> None:
    steps = (
        {"editor-body": "New {{ count }} {{ topic }}", "action": "draft"},
        {"editor-body": "New {{ count }} {{ topic }}", "action": "publish"},  # the draft, unchanged
        {"editor-body": "New {{ count }} {{ topic }}", "action": "publish"},  # nothing left to do
        {"editor-body": "Newer {{ topic }}", "action": "publish"},  # leaves `count` unused
    )
    client.force_login(staff)
    said: dict[str, list[list[str]]] = {}
    for editor in ("site", "admin"):
        template = make_template(slug=f"{editor}-editor")
        url = {
            "site": f"/t/{template.slug}/edit/",
            "admin": f"/admin/templates_app/template/{template.pk}/editor/",
        }
        said[editor] = []
        for overrides in steps:
            response = client.post(url[editor], editor_post(template, **overrides))
            assert response.status_code == 302
            said[editor].append([str(message) for message in get_messages(response.wsgi_request)])
            client.get(response["Location"])  # shows, and so clears, the messages
    assert said["site"] == said["admin"]
    assert said["site"][:3] == [
        ["Saved version 2 as a draft; the form still serves the published version."],
        ["Published version 2."],
        ["Nothing in the content changed, so no new version was made."],
    ]
    assert said["site"][3][0] == "Saved and published version 3."
    assert len(said["site"][3]) == 2 and "count" in said["site"][3][1]


def test_the_admin_editor_publishing_an_unchanged_draft_says_it_published(
    client: Client, make_template, staff
) -> None:
    template = make_template()
    parameters = template.latest_version.parameters
    template.create_version(body="Draft {{ count }} {{ topic }}", parameters=parameters, publish=False)
    client.force_login(staff)
    url = f"/admin/templates_app/template/{template.pk}/editor/"
    response = client.post(url, editor_post(template, action="publish"), follow=True)
    template.refresh_from_db()
    assert template.published_version.number == 2 and template.versions.count() == 2
    html = response.content.decode()
    assert "Published version 2." in html and "Nothing in the content changed" not in html
    # Unchanged again, with nothing left to publish: nothing changed, and it says so.
    response = client.post(url, editor_post(template, action="publish"), follow=True)
    assert "Nothing in the content changed" in response.content.decode()
    assert template.versions.count() == 2


def test_adding_a_version_in_the_admin_keeps_the_theme_and_skips_a_copy(
    client: Client, make_template, staff
) -> None:
    template = make_template()
    themed = template.create_version(
        body=template.latest_version.body, parameters=template.latest_version.parameters,
        theme={"primary": "#1d4ed8"}, publish=False,
    )  # fmt: skip
    client.force_login(staff)
    data = {
        "template": template.pk, "system_prompt": "", "body": themed.body,
        "parameters": json.dumps(themed.parameters), "provider": "offline", "model": "offline-echo",
        "temperature": "0.70", "max_tokens": "1024",
    }  # fmt: skip
    # The latest version's content again: no copy; its draft is published, as the editor does.
    response = client.post("/admin/templates_app/templateversion/add/", data, follow=True)
    assert response.status_code == 200 and template.versions.count() == 2
    template.refresh_from_db()
    assert template.published_version == themed
    assert "Published version 2." in response.content.decode()
    # A change: a new published version, with the theme the form does not show.
    response = client.post("/admin/templates_app/templateversion/add/", data | {"max_tokens": "99"})
    assert response.status_code == 302
    template.refresh_from_db()
    version = template.published_version
    assert version.number == 3 and version.max_tokens == 99 and version.theme == {"primary": "#1d4ed8"}
    assert version.created_by == staff


def test_adding_unchanged_content_in_the_admin_says_so_and_logs_no_addition(
    client: Client, make_template, staff
) -> None:
    template = make_template()
    version = template.published_version
    client.force_login(staff)
    data = {
        "template": template.pk, "system_prompt": version.system_prompt, "body": version.body,
        "parameters": json.dumps(version.parameters), "provider": version.provider, "model": version.model,
        "temperature": str(version.temperature), "max_tokens": str(version.max_tokens),
    }  # fmt: skip
    response = client.post("/admin/templates_app/templateversion/add/", data, follow=True)
    said = [str(message) for message in response.context["messages"]]
    assert said == ["Nothing in the content changed, so no new version was made."]
    assert response.redirect_chain[-1][0] == "/admin/templates_app/templateversion/"
    assert not LogEntry.objects.filter(action_flag=ADDITION).exists()
    assert template.versions.count() == 1
    # A real addition is logged and reported as the admin reports one.
    response = client.post(
        "/admin/templates_app/templateversion/add/", data | {"max_tokens": "99"}, follow=True
    )
    said = [str(message) for message in response.context["messages"]]
    assert len(said) == 1 and "was added successfully" in said[0]
    added = LogEntry.objects.get(action_flag=ADDITION)
    assert added.object_id == str(template.latest_version.pk) and template.versions.count() == 2


def test_the_admin_editor_shows_schema_errors(client: Client, make_template, staff) -> None:
    template = make_template()
    client.force_login(staff)
    data = editor_post(template, **{"editor-schema": SCHEMA_YAML + "- name: topic\n  type: string\n"})
    response = client.post(f"/admin/templates_app/template/{template.pk}/editor/", data)
    assert response.status_code == 200
    assert "topic" in response.content.decode().split('id="id_editor-schema_error"')[1][:400]
    assert template.versions.count() == 1


def test_adding_a_template_in_the_admin_goes_to_the_editor(client: Client, staff) -> None:
    client.force_login(staff)
    response = client.post(
        "/admin/templates_app/template/add/",
        {"name": "New", "slug": "new", "visibility": "private", "cache_results": "on",
         "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"].endswith(f"/admin/templates_app/template/{Template.objects.get().pk}/editor/")


# --- In Chromium ------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("locale", "other_language", "other_label"),
    [("en-US", "Português", "Humor"), ("pt-BR", "English", "Mood")],
)
def test_the_editor_preview_follows_typing_in_chromium(
    signed_in_page,
    live_server_url: str,
    make_template,
    owner,
    locale: str,
    other_language: str,
    other_label: str,
) -> None:
    template = make_template(owner=owner)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/t/{template.slug}/edit/")
    assert page.locator("#editor-preview [name=topic]").count() == 1
    assert_accessible(page)

    fill_code(
        page,
        "id_editor-schema",
        SCHEMA_YAML + "- name: mood\n  type: string\n  label: {en: Mood, pt: Humor}\n",
    )
    page.wait_for_function("() => document.querySelector('#editor-preview [name=mood]') !== null")
    assert_accessible(page)

    fill_code(page, "id_editor-schema", SCHEMA_YAML + "- name: mood\n  type: colour\n")
    page.wait_for_function("() => document.querySelector('#editor-preview [data-preview-problems]') !== null")
    assert "mood" in page.locator("[data-preview-problems]").inner_text()
    assert_accessible(page)

    fill_code(
        page,
        "id_editor-schema",
        SCHEMA_YAML + "- name: mood\n  type: string\n  label: {en: Mood, pt: Humor}\n",
    )
    page.get_by_label(other_language).check()
    labels = "[...document.querySelectorAll('#editor-preview label')]"
    page.wait_for_function(
        f"text => {labels}.some(label => label.textContent.includes(text))", arg=other_label
    )
    assert_accessible(page)
    # Nothing was saved by previewing.
    assert template.versions.count() == 1


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_editor_pages_pass_axe_and_the_admin_preview_works(
    signed_in_page, live_server_url: str, make_template, owner, staff, locale: str
) -> None:
    template = make_template(owner=owner)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/templates/mine/")
    assert_accessible(page)
    page.goto(f"{live_server_url}/templates/new/")
    assert_accessible(page)
    page.locator("#id_meta-name").fill("Broken")
    page.locator("#id_meta-slug").fill("broken")
    fill_code(page, "id_editor-body", "About {{ topic }}")
    fill_code(page, "id_editor-schema", "- name: topic\n  type: string\n  min_length: 9\n  max_length: 2\n")
    page.locator("button[name=action][value=draft]").click()
    page.wait_for_load_state()
    summary = page.locator("[data-error-summary]")
    assert summary.evaluate("element => element === document.activeElement")
    assert "topic" in summary.inner_text()
    assert_accessible(page)

    admin = signed_in_page(staff, locale)
    admin.goto(f"{live_server_url}/admin/templates_app/template/{template.pk}/editor/")
    assert_accessible(admin)
    admin.locator("#id_editor-schema").fill(SCHEMA_YAML + "- name: mood\n  type: string\n")
    admin.wait_for_function("() => document.querySelector('#editor-preview [name=mood]') !== null")
    assert_accessible(admin)


def test_the_editor_shows_each_parameter_name_first(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    page = client.get(f"/t/{template.slug}/edit/").content.decode()
    assert "- name: count\n  type: integer\n  label: Count\n  default: 3\n" in page


def test_yaml_aliases_are_refused_so_a_tiny_text_cannot_expand(client: Client, owner) -> None:
    client.force_login(owner)
    bomb = "- &a [x, x, x, x, x, x, x, x, x]\n- &b [*a, *a, *a, *a, *a, *a, *a, *a]\n- [*b, *b, *b, *b, *b]\n"
    data = {"prefix": "editor", "editor-schema_format": "yaml", "editor-schema": bomb}
    html = client.post("/editor/preview/", data, headers={"HX-Request": "true"}).content.decode()
    assert "YAML error at line 2" in html and "aliases (*name) are not allowed" in html


def test_infinite_or_unmanageable_number_bounds_are_authoring_errors(client: Client, owner) -> None:
    client.force_login(owner)
    for schema in (
        "- name: topic\n  type: number\n  min: .inf\n",
        "- name: topic\n  type: number\n  min: 1.0e+308\n  step: 1.0e-308\n",
    ):
        response = client.post("/templates/new/", new_template_post(**{"editor-schema": schema}))
        assert response.status_code == 200
        assert "Parameter “topic”: “min”" in response.content.decode()
    assert not Template.objects.exists()


@pytest.mark.parametrize(
    ("fmt", "text"), [("yaml", "[" * 3000), ("json", "[" * 3000), ("json", "[" * 500 + "]" * 500)]
)
def test_deeply_nested_schema_text_is_an_error_not_a_500(client: Client, owner, fmt: str, text: str) -> None:
    client.force_login(owner)
    post = new_template_post(**{"editor-schema_format": fmt, "editor-schema": text})
    response = client.post("/templates/new/", post)
    assert response.status_code == 200
    assert "The schema is nested too deeply." in response.content.decode()
    assert not Template.objects.exists()


def test_the_editor_has_a_field_for_each_colour_of_both_palettes() -> None:
    names = [*COLOUR_KEYS, *(f"dark_{key}" for key in COLOUR_KEYS)]
    fields = VersionForm(user=None).fields
    assert all(fields[name].max_length == len("#1d4ed8") for name in names)
    assert str(fields["primary"].label) == "Primary colour"
    assert str(fields["dark_primary"].label) == "Primary colour (dark)"
    with translation.override("pt-br"):
        assert str(VersionForm(user=None).fields["dark_text"].label) == "Cor do texto (escura)"
