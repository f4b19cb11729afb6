"""Inputs that used to answer 500: each now gets a clear, translated error naming the
field (a 400 from the API; the form again, with the error beside the field, on the
site), and nothing is saved."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from jobs.models import Job
from templates_app.models import Template, Visibility
from templates_app.schema.fields import JsonValueField

from .editor_helpers import editor_post

pytestmark = pytest.mark.django_db

API = "/api/v1"
FILE_SCHEMA = [{"name": "notes", "type": "file", "extensions": [".txt"]}]


def api(user: User, language: str = "en") -> Client:
    return Client(
        raise_request_exception=False,
        headers={"Authorization": f"Bearer {AccessToken.for_user(user)}", "Accept-Language": language},
    )


def post_json(client: Client, path: str, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(f"{API}{path}", data=data, content_type="application/json", headers=headers)


def field_errors(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, (response.status_code, response.content[:2000])
    return response.json()["error"]["details"]


def template_body(parameters: list[dict[str, Any]], slug: str = "bad") -> dict[str, Any]:
    return {"slug": slug, "name": "Bad", "body": "Hello {{ x }}", "parameters": parameters}


# --- NUL characters ---------------------------------------------------------------


def test_api_file_text_with_a_nul_character_is_refused_naming_the_parameter(make_template, owner) -> None:
    template = make_template(parameters=FILE_SCHEMA, body="Notes: {{ notes }}")
    response = post_json(
        api(owner), f"/templates/{template.slug}/generate", {"inputs": {"notes": "a\u0000b"}}
    )
    details = field_errors(response)
    assert "notes" in details["inputs"], details
    assert "null" in " ".join(details["inputs"]["notes"]).lower()
    assert not Job.objects.exists()


def test_site_upload_with_a_nul_byte_shows_the_error_at_the_field(make_template) -> None:
    template = make_template(parameters=FILE_SCHEMA, body="Notes: {{ notes }}")
    client = Client(raise_request_exception=False, headers={"Accept-Language": "pt-br"})
    upload = SimpleUploadedFile("notes.txt", b"first\x00second", content_type="text/plain")
    response = client.post(template.get_absolute_url(), {"notes": upload})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="id_notes_error"' in page
    assert "Caracteres nulos não são permitidos." in page
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "parameter",
    [
        {"name": "x", "type": "string", "label": "Bad\u0000label"},
        {"name": "x", "type": "choice", "choices": ["ok", "b\u0000d"]},
        {"name": "x", "type": "choice", "choices": [{"value": "ok", "label": {"en": "O\u0000K"}}]},
    ],
    ids=["label", "choice-value", "choice-label"],
)
def test_a_nul_character_in_the_schema_is_refused_naming_the_parameter(owner, parameter) -> None:
    response = post_json(api(owner), "/templates", template_body([parameter]))
    details = field_errors(response)
    message = " ".join(details["parameters"])
    assert "“x”" in message and "NUL" in message, message
    assert not Template.objects.exists()


# --- Bodies and headers -------------------------------------------------------------


def test_a_json_body_nested_thousands_deep_is_a_400(owner) -> None:
    body = "[" * 5000 + "]" * 5000
    response = post_json(api(owner), "/templates", body)
    assert response.status_code == 400, response.content[:500]
    assert "nested" in response.json()["error"]["message"]


def test_a_json_body_nested_deep_is_refused_in_portuguese(owner) -> None:
    response = post_json(api(owner, "pt-br"), "/templates", '{"a":' * 3000 + "1" + "}" * 3000)
    assert response.status_code == 400
    assert "aninhado" in response.json()["error"]["message"]


def test_an_overlong_idempotency_key_is_a_400_naming_the_header(make_template, owner) -> None:
    template = make_template()
    response = post_json(
        api(owner), f"/templates/{template.slug}/generate", {"inputs": {"topic": "x"}},
        **{"Idempotency-Key": "k" * 201},
    )  # fmt: skip
    details = field_errors(response)
    assert "Idempotency-Key" in details, details
    assert not Job.objects.exists()


def test_an_idempotency_key_of_200_characters_is_taken(make_template, owner) -> None:
    template = make_template()
    key = "k" * 200
    client = api(owner)
    first = post_json(
        client, f"/templates/{template.slug}/generate", {"inputs": {"topic": "x"}}, **{"Idempotency-Key": key}
    )
    again = post_json(
        client, f"/templates/{template.slug}/generate", {"inputs": {"topic": "x"}}, **{"Idempotency-Key": key}
    )
    assert first.status_code == 202 and again.status_code == 200  # fmt: skip
    assert first.json()["id"] == again.json()["id"]


@pytest.mark.parametrize(
    "path", ["/templates/a%00b", "/templates/a%00b/versions", "/jobs/0.5", "/jobs/abc", "/nowhere"]
)
@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_path_is_a_json_404_even_with_debug_on(owner, settings, path, debug) -> None:
    settings.DEBUG = debug
    response = api(owner).get(f"{API}{path}")
    assert response.status_code == 404, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


# --- JSON Schema references ------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {
            "allOf": [{"$ref": "#/$defs/a"}],
            "$defs": {"a": {"anyOf": [{"$ref": "#/$defs/b"}]}, "b": {"$ref": "#/$defs/a"}},
        },
        {"$defs": {"a": {"not": {"$ref": "#"}}}, "$ref": "#/$defs/a"},
    ],
    ids=["self", "through-defs", "through-not"],
)  # fmt: skip
def test_a_json_schema_that_refers_to_itself_without_end_is_refused(owner, schema) -> None:
    response = post_json(
        api(owner), "/templates", template_body([{"name": "x", "type": "json", "schema": schema}])
    )
    details = field_errors(response)
    message = " ".join(details["parameters"])
    assert "“x”" in message and "itself" in message, message
    assert not Template.objects.exists()


def test_a_recursive_json_schema_that_descends_into_the_value_is_accepted(owner) -> None:
    tree = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
    }
    client = api(owner)
    response = post_json(client, "/templates", template_body([{"name": "x", "type": "json", "schema": tree}]))
    assert response.status_code == 201, response.content
    Template.objects.filter(slug="bad").update(visibility=Visibility.PUBLIC)
    value = {"name": "a", "children": [{"name": "b", "children": [{"name": 3}]}]}
    refused = post_json(client, "/templates/bad/generate", {"inputs": {"x": value}})
    assert "x" in field_errors(refused)["inputs"]


def test_a_json_field_with_an_endless_schema_refuses_the_value_instead_of_failing() -> None:
    """A schema saved before endless references were refused still answers with an error."""
    field = JsonValueField(json_schema={"$ref": "#"})
    with pytest.raises(ValidationError, match="refers to itself"):
        field.clean('{"a": 1}')


@pytest.mark.parametrize("value", ['"a\\u0000b"', '{"k\\u0000": 1}'], ids=["value", "key"])
def test_a_json_value_with_an_escaped_nul_is_refused_naming_the_parameter(
    make_template, owner, value
) -> None:
    template = make_template(parameters=[{"name": "x", "type": "json"}], body="{{ x }}")
    client = api(owner)
    response = post_json(client, f"/templates/{template.slug}/generate", '{"inputs": {"x": ' + value + "}}")
    assert "x" in field_errors(response)["inputs"]
    site = Client(raise_request_exception=False).post(template.get_absolute_url(), {"x": value})
    assert site.status_code == 200 and 'id="id_x_error"' in site.content.decode()
    assert not Job.objects.exists()


# --- YAML and JSON the editor and the importer read ---------------------------------------

BAD_YAML = {
    "impossible-default": (
        "- name: when\n  type: date\n  default: 2024-02-30\n",
        "Parameter “when”: the default",
    ),
    "impossible-min": ("- name: when\n  type: date\n  min: 2024-13-01\n", "Parameter “when”: “min”"),
    "huge-integer": (
        "- name: n\n  type: integer\n  max: " + "9" * 5000 + "\n",
        "line 3, column 8: a number of 5000",
    ),
    "non-string-key": ("- {1: 2, name: a}\n", "line 1, column 4: the key “1” must be a text"),
}


@pytest.mark.parametrize("case", BAD_YAML.values(), ids=BAD_YAML.keys())
def test_the_editor_preview_names_the_problem_in_bad_yaml(owner, case) -> None:
    text, where = case
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    response = client.post(
        "/editor/preview/", {"editor-schema": text, "editor-schema_format": "yaml", "editor-body": "x"}
    )
    assert response.status_code == 200, response.content[-2000:]
    assert where in response.content.decode()


@pytest.mark.parametrize("case", BAD_YAML.values(), ids=BAD_YAML.keys())
def test_the_editor_save_names_the_problem_in_bad_yaml(make_template, owner, case) -> None:
    text, where = case
    template = make_template(owner=owner)
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    response = client.post(f"/t/{template.slug}/edit/", editor_post(template, **{"editor-schema": text}))
    assert response.status_code == 200, response.content[-2000:]
    assert where in response.content.decode()
    assert template.versions.count() == 1


def test_the_editor_names_a_huge_integer_in_json(make_template, owner) -> None:
    template = make_template(owner=owner)
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    text = '[{"name": "n", "type": "integer", "max": ' + "9" * 5000 + "}]"
    post = editor_post(template, **{"editor-schema": text, "editor-schema_format": "json"})
    response = client.post(f"/t/{template.slug}/edit/", post)
    assert response.status_code == 200, response.content[-2000:]
    assert "JSON error at line 1, column 42: a number of 5000 digits" in response.content.decode()
    assert template.versions.count() == 1


@pytest.mark.parametrize("case", BAD_YAML.values(), ids=BAD_YAML.keys())
def test_import_front_matter_with_bad_yaml_is_a_400_naming_the_content(owner, case) -> None:
    text, _where = case
    indented = "".join(f"  {line}\n" for line in text.splitlines())
    content = f"---\nslug: bad\nname: Bad\nparameters:\n{indented}---\nHello\n"
    response = post_json(api(owner), "/templates/import", {"content": content, "format": "promptlab"})
    details = field_errors(response)
    assert "content" in details, details
    assert not Template.objects.exists()


def test_import_front_matter_with_a_huge_integer_in_the_model_is_a_400(owner) -> None:
    content = "---\nslug: bad\nname: Bad\nmodel: {max_tokens: " + "9" * 5000 + "}\n---\nHello\n"
    response = post_json(api(owner), "/templates/import", {"content": content, "format": "promptlab"})
    assert "content" in field_errors(response)


# --- Where the API and its OpenAPI document disagreed (found by schemathesis) ---------


@pytest.mark.parametrize("page_size", ["", "null", "abc", "0", "101", "2.5", "٣"])
def test_a_page_size_that_is_not_a_whole_number_from_1_to_100_is_a_400(owner, page_size) -> None:
    response = api(owner).get(f"{API}/jobs", {"page_size": page_size})
    assert "page_size" in field_errors(response)


def test_a_valid_page_size_is_taken(make_template, owner) -> None:
    from jobs.services import submit_generation

    template = make_template(owner=owner)
    for topic in ("a", "b"):
        submit_generation(template.published_version, {"topic": topic, "count": 2}, owner=owner)
    response = api(owner).get(f"{API}/jobs", {"page_size": "1"})
    assert response.status_code == 200 and len(response.json()["results"]) == 1


def test_the_document_states_page_size_bounds_unknown_fields_and_slug_patterns(owner) -> None:
    document = api(owner).get("/api/schema/?format=json").json()
    page_size = next(
        p for p in document["paths"]["/api/v1/jobs"]["get"]["parameters"] if p["name"] == "page_size"
    )
    assert page_size["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 25}
    components = document["components"]["schemas"]
    assert components["GenerateRequest"]["additionalProperties"] is False
    assert components["RegisterRequest"]["additionalProperties"] is False
    slug = document["paths"]["/api/v1/templates/{slug}"]["get"]["parameters"][0]
    assert slug["schema"]["pattern"] == "^[-a-zA-Z0-9_]+$"


def test_an_empty_template_filter_or_export_format_is_a_400(make_template, owner) -> None:
    template = make_template(owner=owner)
    client = api(owner)
    assert "template" in field_errors(client.get(f"{API}/jobs", {"template": ""}))
    assert "format" in field_errors(client.get(f"{API}/templates/{template.slug}/export", {"format": ""}))


def test_a_number_for_a_text_field_or_a_text_for_a_number_is_a_400(owner) -> None:
    client = api(owner)
    assert "name" in field_errors(post_json(client, "/auth/tokens", {"name": 12345}))
    body = template_body([]) | {"model_settings": {"max_tokens": "100"}}
    assert "max_tokens" in field_errors(post_json(client, "/templates", body))["model_settings"]
    assert not Template.objects.exists()


def test_temperature_may_be_a_number_or_a_decimal_text_as_documented(owner) -> None:
    client = api(owner)
    for slug, temperature in (("as-number", 0.5), ("as-text", "0.50")):
        body = template_body([], slug=slug) | {"body": "Hi", "model_settings": {"temperature": temperature}}
        response = post_json(client, "/templates", body)
        assert response.status_code == 201, response.content
        assert response.json()["model_settings"]["temperature"] == "0.50"


def test_a_nul_character_in_staffs_custom_css_is_refused_naming_the_theme(staff) -> None:
    body = template_body([], slug="css") | {"body": "Hi", "theme": {"custom_css": ".a { color: red; }\u0000"}}
    details = field_errors(post_json(api(staff), "/templates", body))
    assert "NUL" in " ".join(details["theme"])
    assert not Template.objects.exists()


@pytest.mark.parametrize("digest", ["a%00b", "abc"])
def test_a_logo_address_that_is_no_digest_is_a_404(client, digest) -> None:
    assert Client(raise_request_exception=False).get(f"/theme-logos/{digest}").status_code == 404


@pytest.mark.parametrize(
    "theme",
    [{"text": False}, {"primary": ""}, {"dark": False}, {"font": 0}, {"radius": None}, {"logo": False}],
    ids=["colour-false", "colour-empty", "dark-false", "font-zero", "radius-null", "logo-false"],
)
def test_a_theme_setting_of_the_wrong_type_is_refused_not_stored(owner, theme) -> None:
    body = template_body([], slug="typed") | {"body": "Hi", "theme": theme}
    assert "theme" in field_errors(post_json(api(owner), "/templates", body))
    assert not Template.objects.exists()


def test_a_text_longer_than_its_max_length_as_sent_is_refused_even_if_white_space_would_trim_it(
    owner,
) -> None:
    response = post_json(api(owner), "/auth/tokens", {"name": "\t" + "n" * 100})
    assert "name" in field_errors(response)
    assert post_json(api(owner), "/auth/tokens", {"name": "n" * 100}).status_code == 201


def test_a_body_that_writes_a_nul_character_gets_an_error_not_a_500(make_template, owner) -> None:
    template = make_template(body="A{{ '\\x00' }}B {{ topic }} {{ count }}")
    site = Client(raise_request_exception=False).post(
        template.get_absolute_url(), {"topic": "x", "count": "2"}
    )
    assert site.status_code == 200 and "NUL" in site.content.decode()
    response = post_json(api(owner), f"/templates/{template.slug}/generate", {"inputs": {"topic": "x"}})
    assert "NUL" in " ".join(field_errors(response)["inputs"])
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "content",
    [b"---\nslug: a\nname: A\n---\nHi\x00there\n", b'---\nslug: a\nname: A\nsystem: "x\\0y"\n---\nHi\n'],
    ids=["in-the-body", "yaml-escape"],
)
def test_an_imported_file_with_a_nul_character_is_refused_naming_the_file(owner, content) -> None:
    site = Client(raise_request_exception=False)
    site.force_login(owner)
    page = site.post("/import/", {"file": SimpleUploadedFile("a.md", content)})
    assert page.status_code == 200 and "NUL" in page.content.decode()
    response = api(owner).post(f"{API}/templates/import", {"file": SimpleUploadedFile("a.md", content)})
    assert "NUL" in " ".join(field_errors(response)["file"])
    assert not Template.objects.exists()


def test_a_token_limited_to_a_template_that_is_no_slug_is_a_400_naming_the_field(owner) -> None:
    """A NUL character made PostgreSQL refuse the lookup (a 500): no slug is no template."""
    for templates in (["L\x00\x1e"], ["ok", "x\x00"], ["not a slug"]):
        response = post_json(api(owner), "/auth/tokens", {"name": "Stand-up", "templates": templates})
        assert response.status_code == 400 and "templates" in field_errors(response), templates


def test_an_import_whose_multipart_filename_is_empty_has_no_name(owner, make_template) -> None:
    """An empty form field is how a multipart client leaves it out (the document allows it):
    the format given decides, as without the field."""
    template = make_template(slug="exported", owner=owner)
    content = api(owner).get(f"/api/v1/templates/{template.slug}/export", {"format": "promptlab"}).content
    response = api(owner).post(
        "/api/v1/templates/import",
        {"content": content.decode(), "format": "promptlab", "filename": "", "slug": "imported"},
    )
    assert response.status_code == 201, response.content
    document = api(owner).get("/api/schema/", {"format": "json"}).json()
    filenames = [
        component["properties"]["filename"]
        for component in document["components"]["schemas"].values()
        if "filename" in component.get("properties", {})
    ]
    assert filenames and all("minLength" not in field for field in filenames)  # it promised a refusal
