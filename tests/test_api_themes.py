"""The REST API and themes: read and write a template's theme, its checks, and that reads follow changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from templates_app.models import Template, Visibility

from .conftest import SIMPLE_SCHEMA
from .test_api import assert_error, jwt_for
from .test_themes import GOOD_THEME  # one valid theme for both suites

pytestmark = pytest.mark.django_db

API = "/api/v1"


def call(client: Client, user: User, method: str, path: str, body: Any = None, **headers: str) -> Any:
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {jwt_for(user)}", **headers}}
    if body is not None:
        kwargs.update(data=body, content_type="application/json")
    return getattr(client, method)(f"{API}{path}", **kwargs)


@pytest.fixture
def template(owner: User) -> Template:
    template = Template.objects.create(slug="mine", name="Mine", owner=owner, visibility=Visibility.SIGNED_IN)
    template.create_version(body="Write {{ count }} lines about {{ topic }}.", parameters=SIMPLE_SCHEMA)
    return template


def test_the_theme_is_part_of_the_representation(client: Client, owner, template) -> None:
    data = call(client, owner, "get", "/templates/mine").json()
    assert data["theme"] == {}
    template.create_version(
        author=owner, body=template.published_version.body, parameters=SIMPLE_SCHEMA, theme=GOOD_THEME
    )
    data = call(client, owner, "get", "/templates/mine").json()
    assert data["theme"] == GOOD_THEME and data["version"] == 2


def test_create_with_a_theme_and_patch_a_changed_theme_makes_a_new_version(client: Client, owner) -> None:
    body = {
        "slug": "themed",
        "name": "Themed",
        "body": "About {{ topic }}.",
        "theme": GOOD_THEME,
        "parameters": [{"name": "topic", "type": "string"}],
    }
    created = call(client, owner, "post", "/templates", body)
    assert created.status_code == 201, created.content
    assert created.json()["theme"] == GOOD_THEME and created.json()["version"] == 1
    template = Template.objects.get(slug="themed")
    assert template.published_version.theme == GOOD_THEME

    darker = {**GOOD_THEME, "primary": "#073763"}
    patched = call(client, owner, "patch", "/templates/themed", {"theme": darker})
    assert patched.status_code == 200, patched.content
    assert patched.json()["theme"] == darker and patched.json()["version"] == 2
    # The rest of the content is carried over into the new version.
    version = template.versions.get(number=2)
    assert version.body == "About {{ topic }}." and version.parameters == body["parameters"]

    # The same theme again: nothing changed, so no version.
    again = call(client, owner, "patch", "/templates/themed", {"theme": darker})
    assert again.json()["version"] == 2 and template.versions.count() == 2
    # Removing the theme is a change too.
    cleared = call(client, owner, "patch", "/templates/themed", {"theme": {}})
    assert cleared.json()["theme"] == {} and cleared.json()["version"] == 3


def test_a_body_patch_keeps_the_theme(client: Client, owner, template) -> None:
    call(client, owner, "patch", "/templates/mine", {"theme": GOOD_THEME})
    response = call(client, owner, "patch", "/templates/mine", {"body": "Now {{ topic }} x{{ count }}."})
    assert response.json()["theme"] == GOOD_THEME and response.json()["version"] == 3


def test_low_contrast_is_refused_with_the_measured_ratio_in_the_envelope(
    client: Client, owner, template
) -> None:
    response = call(client, owner, "patch", "/templates/mine", {"theme": {"text": "#777777"}})
    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["theme"]
    assert any("4.47:1" in message for message in error["details"]["theme"]), error
    assert template.versions.count() == 1  # nothing written
    pt = call(
        client,
        owner,
        "patch",
        "/templates/mine",
        {"theme": {"text": "#777777"}},
        **{"Accept-Language": "pt-BR"},
    )
    message = assert_error(pt, 400, "validation_error")["details"]["theme"][0]
    assert "4,47:1" in message and "contraste" in message  # the reader's decimal comma


@pytest.mark.parametrize(
    ("theme", "words"),
    [
        ({"colour": "#000000"}, "colour"),
        ({"radius": 99}, "radius"),
        ({"font": "Comic <script>"}, "Font"),
        ({"custom_css": "h1 { background: url(x) }"}, "url("),
        ("dark", "object"),
        ([], "object"),
    ],
)
def test_bad_themes_are_refused_naming_the_field(client: Client, owner, template, theme, words) -> None:
    response = call(client, owner, "patch", "/templates/mine", {"theme": theme})
    error = assert_error(response, 400, "validation_error")
    assert "theme" in error["details"] and words.lower() in " ".join(error["details"]["theme"]).lower(), error
    assert template.versions.count() == 1


def test_a_null_theme_is_refused(client: Client, owner, template) -> None:
    error = assert_error(
        call(client, owner, "patch", "/templates/mine", {"theme": None}), 400, "validation_error"
    )
    assert "theme" in error["details"]


def test_custom_css_is_staff_only(client: Client, owner, staff, template) -> None:
    theme = {**GOOD_THEME, "custom_css": "h1 { letter-spacing: 0.05em }"}
    refused = call(client, owner, "patch", "/templates/mine", {"theme": theme})
    assert (
        "Only staff can add or change custom CSS."
        in assert_error(refused, 400, "validation_error")["details"]["theme"]
    )
    assert template.versions.count() == 1
    # Staff may add it (in the admin: the API lets only the owner write)...
    template.create_version(
        author=staff, body=template.published_version.body, parameters=SIMPLE_SCHEMA, theme=theme
    )
    # ...and the owner's PATCH may keep it unchanged while changing the colours.
    kept = call(client, owner, "patch", "/templates/mine", {"theme": {**theme, "primary": "#073763"}})
    assert kept.status_code == 200, kept.content
    assert kept.json()["theme"]["custom_css"] == "h1 { letter-spacing: 0.05em }"
    changed = call(client, owner, "patch", "/templates/mine", {"theme": {**theme, "custom_css": "h1 {}"}})
    assert_error(changed, 400, "validation_error")


def test_a_read_follows_every_change_of_the_theme(client: Client, owner, other_user, template) -> None:
    first = call(client, other_user, "get", "/templates/mine").json()
    assert first["theme"] == {}
    assert call(client, other_user, "get", "/templates/mine").json() == first

    call(client, owner, "patch", "/templates/mine", {"theme": GOOD_THEME})
    assert call(client, other_user, "get", "/templates/mine").json()["theme"] == GOOD_THEME
    darker = {**GOOD_THEME, "primary": "#073763"}
    call(client, owner, "patch", "/templates/mine", {"theme": darker})
    assert call(client, other_user, "get", "/templates/mine").json()["theme"] == darker

    # Rolling back on the site re-publishes version 2: the API follows at once.
    client.force_login(owner)
    client.post("/t/mine/v2/publish/")
    client.logout()
    rolled_back = call(client, other_user, "get", "/templates/mine").json()
    assert rolled_back["theme"] == GOOD_THEME and rolled_back["version"] == 2


def test_a_read_shows_a_renamed_template_and_owner_at_once(
    client: Client, owner, other_user, template
) -> None:
    assert call(client, other_user, "get", "/templates/mine").json()["name"] == "Mine"
    Template.objects.filter(pk=template.pk).update(name="Renamed")
    owner.email = "new-owner@example.com"
    owner.save()
    read = call(client, other_user, "get", "/templates/mine").json()
    assert read["name"] == "Renamed" and read["owner"] == "new-owner@example.com"


def test_the_openapi_document_describes_the_theme_and_the_warnings(client: Client) -> None:
    document = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
    schemas = document["components"]["schemas"]
    theme = schemas["Template"]["properties"]["theme"]
    assert set(theme["properties"]) >= {
        "primary",
        "background",
        "text",
        "dark",
        "font",
        "radius",
        "custom_css",
    }
    assert "4.5:1" in theme["description"]
    saved = {name: schema for name, schema in schemas.items() if "warnings" in schema.get("properties", {})}
    assert "TemplateSaved" in saved
    create = document["paths"]["/api/v1/templates"]["post"]["responses"]["201"]
    assert create["content"]["application/json"]["schema"]["$ref"].endswith("/TemplateSaved")
    patch = document["paths"]["/api/v1/templates/{slug}"]["patch"]["responses"]["200"]
    assert patch["content"]["application/json"]["schema"]["$ref"].endswith("/TemplateSaved")


# --- Theme limits: one set (templates_app/theme.py), the same answer everywhere ---------

FONT_AT_LIMIT = ", ".join(["F" * 60, *["G" * 58] * 4])  # 300 characters, five family names
FONT_OVER_LIMIT = ", ".join(["F" * 60, "H" * 59, *["G" * 58] * 3])  # 301
CSS_AT_LIMIT = "/*" + "x" * 19_996 + "*/"  # 20,000 characters

LIMITS = [
    ("font", FONT_AT_LIMIT, FONT_OVER_LIMIT),
    ("radius", 32, 33),
    # White space around custom CSS is dropped (the editor dropped it, the API counted it).
    ("custom_css", CSS_AT_LIMIT + "\n", "x" + CSS_AT_LIMIT),
]


@pytest.mark.parametrize(("setting", "at_limit", "over_limit"), LIMITS)
def test_the_api_and_the_editor_give_the_same_answer_at_each_theme_limit(
    client: Client, make_template, staff, setting: str, at_limit: Any, over_limit: Any
) -> None:
    from .editor_helpers import editor_post

    assert len(FONT_AT_LIMIT) == 300 and len(FONT_OVER_LIMIT) == 301 and len(CSS_AT_LIMIT) == 20_000
    client.force_login(staff)  # custom CSS is staff's
    answers = {}
    for label, value in (("at", at_limit), ("over", over_limit)):
        by_api = make_template(slug=f"api-{label}", owner=staff)
        api = call(client, staff, "patch", f"/templates/{by_api.slug}", {"theme": {setting: value}})
        by_editor = make_template(slug=f"editor-{label}", owner=staff)
        data = editor_post(by_editor, **{f"editor-{setting}": value})
        editor = client.post(f"/t/{by_editor.slug}/edit/", data)
        answers[label] = (api.status_code, editor.status_code, by_editor.versions.count())
    assert answers == {"at": (200, 302, 2), "over": (400, 200, 1)}, answers


def test_the_openapi_document_states_the_themes_own_limits(client: Client) -> None:
    from templates_app import theme as rules

    document = client.get("/api/schema/", headers={"Accept": "application/json"}).json()
    described = document["components"]["schemas"]["Template"]["properties"]["theme"]["properties"]
    assert described["font"]["maxLength"] == rules.MAX_FONT_LENGTH
    assert described["radius"]["maximum"] == rules.MAX_RADIUS
    assert described["custom_css"]["maxLength"] == rules.MAX_CUSTOM_CSS


def test_create_and_patch_answer_with_the_saved_versions_warnings(client: Client, owner) -> None:
    body = {
        "slug": "warned",
        "name": "Warned",
        "body": "About {{ topic }}.",
        "parameters": [{"name": "topic", "type": "string"}, {"name": "tone", "type": "string"}],
    }
    created = call(client, owner, "post", "/templates", body)
    assert created.status_code == 201, created.content
    assert len(created.json()["warnings"]) == 1 and "tone" in created.json()["warnings"][0]
    # A PATCH that changes no content makes no version: the published one's warnings still apply.
    renamed = call(client, owner, "patch", "/templates/warned", {"name": "Still warned"})
    assert renamed.json()["warnings"] == created.json()["warnings"]
    assert renamed.json()["version"] == 1
    fixed = call(client, owner, "patch", "/templates/warned", {"body": "About {{ topic }}, {{ tone }}."})
    assert fixed.json()["warnings"] == [] and fixed.json()["version"] == 2
    # After the template's own fields, as before (then whether review held it back).
    assert list(fixed.json())[-2:] == ["warnings", "proposed"]
