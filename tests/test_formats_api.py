"""POST /api/v1/templates/import and GET /api/v1/templates/{slug}/export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from django.test import Client

from accounts.models import User
from templates_app.models import Template, Visibility

from .test_api import API, assert_error, jwt_for

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data" / "formats"


def auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt_for(user)}"}


def post_json(client: Client, body: dict, user: User | None, **headers: str):
    return client.post(
        f"{API}/templates/import",
        data=json.dumps(body),
        content_type="application/json",
        headers={**(auth(user) if user else {}), **headers},
    )


def test_import_json_content_creates_a_template_owned_by_the_caller(client: Client, owner) -> None:
    text = (DATA / "prompd" / "invoice-extractor.prmd").read_text()
    response = post_json(client, {"format": "prompd", "content": text}, owner)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "invoice-extractor" and body["owner"] == owner.email
    assert body["visibility"] == Visibility.PRIVATE and body["version"] == 1
    assert body["system_prompt"].startswith("You are a financial document extraction engine")
    assert any("author, tags" in warning for warning in body["warnings"])
    assert body["links"]["export"] == f"{API}/templates/invoice-extractor/export"


def test_import_multipart_upload_detects_the_format_from_the_extension(client: Client, owner) -> None:
    with (DATA / "promptlab" / "haiku.md").open("rb") as upload:
        response = client.post(
            f"{API}/templates/import", {"file": upload, "visibility": "public"}, headers=auth(owner)
        )
    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == []
    template = Template.objects.get(slug="haiku-of-the-day")
    assert (template.owner, template.visibility) == (owner, Visibility.PUBLIC)


def test_import_needs_authentication(client: Client) -> None:
    response = post_json(client, {"format": "promptlab", "content": "---\nslug: x\n---\nHi\n"}, None)
    assert_error(response, 401, "not_authenticated")
    assert not Template.objects.exists()


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("broken/promptlab-bad-yaml.md", "not valid YAML"),
        ("broken/prompd-unknown-type.prmd", "datetime"),
        ("broken/prompty-invalid-parameter.prompty", "required"),
        ("broken/dotprompt-no-body.prompt", "no prompt body"),
        ("broken/promptlab-invalid-parameter.md", "min"),
    ],
)
def test_broken_file_is_a_400_in_the_envelope_naming_the_problem(client: Client, owner, path, words) -> None:
    with (DATA / path).open("rb") as upload:
        response = client.post(f"{API}/templates/import", {"file": upload}, headers=auth(owner))
    error = assert_error(response, 400, "validation_error")
    assert any(words in message for message in error["details"]["file"]), error
    assert not Template.objects.exists()


def test_import_errors_follow_accept_language(client: Client, owner) -> None:
    response = post_json(
        client, {"format": "prompd", "content": "no front matter"}, owner, **{"Accept-Language": "pt-br"}
    )
    error = assert_error(response, 400, "validation_error")
    assert "front matter" in error["details"]["content"][0] or "cabeçalho" in error["details"]["content"][0]
    assert (
        error["details"]["content"][0]
        != "The file has no YAML front matter (it must start with a line “---”)."
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": "---\nslug: x\n---\nHi\n"}, "format"),
        ({"format": "yaml", "content": "x"}, "format"),
        ({"format": "promptlab"}, "file"),
        ({"format": "promptlab", "content": "x", "colour": "red"}, "colour"),
    ],
)
def test_import_request_problems_name_the_field(client: Client, owner, body, field) -> None:
    error = assert_error(post_json(client, body, owner), 400, "validation_error")
    assert field in error["details"]


def test_import_with_a_taken_explicit_slug_is_a_conflict(client: Client, owner, make_template) -> None:
    make_template(slug="haiku")
    text = (DATA / "promptlab" / "haiku.md").read_text()
    assert_error(
        post_json(client, {"format": "promptlab", "content": text, "slug": "haiku"}, owner), 409, "conflict"
    )
    assert Template.objects.count() == 1


def test_export_returns_an_attachment_that_imports_again(client: Client, owner) -> None:
    text = (DATA / "promptlab" / "product-description.md").read_text()
    assert post_json(client, {"format": "promptlab", "content": text}, owner).status_code == 201
    for format_name, filename in (
        ("promptlab", "product-description.md"),
        ("prompd", "product-description.prmd"),
        ("prompty", "product-description.prompty"),
        ("dotprompt", "product-description.prompt"),
    ):
        response = client.get(
            f"{API}/templates/product-description/export", {"format": format_name}, headers=auth(owner)
        )
        assert response.status_code == 200, response.content
        assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
        warnings = json.loads(response["X-PromptLab-Warnings"])
        assert bool(warnings) == (format_name != "promptlab")
        content = response.content.decode()
        front = yaml.safe_load(content.split("---\n")[1])
        assert front
        again = post_json(client, {"filename": filename, "content": content}, owner)
        assert again.status_code == 201, (format_name, again.content)
        names = [p["name"] for p in again.json()["parameters"]]
        assert names == ["product_name", "features", "tone", "word_count", "include_call_to_action"]


def test_export_default_format_is_promptlab(client: Client, owner, make_template) -> None:
    make_template(slug="mine", owner=owner, visibility=Visibility.PRIVATE)
    response = client.get(f"{API}/templates/mine/export", headers=auth(owner))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert response.content.decode().startswith("---\nslug: mine\n")


def test_export_follows_the_template_access_rules(client: Client, owner, other_user, make_template) -> None:
    make_template(slug="mine", owner=owner, visibility=Visibility.PRIVATE)
    make_template(slug="shared", owner=owner, visibility=Visibility.SIGNED_IN)
    assert client.get(f"{API}/templates/mine/export", headers=auth(owner)).status_code == 200
    assert_error(client.get(f"{API}/templates/mine/export", headers=auth(other_user)), 404, "not_found")
    assert_error(client.get(f"{API}/templates/mine/export"), 401, "not_authenticated")
    assert client.get(f"{API}/templates/shared/export", headers=auth(other_user)).status_code == 200


def test_export_unknown_format_is_a_400(client: Client, owner, make_template) -> None:
    make_template(slug="mine", owner=owner)
    error = assert_error(
        client.get(f"{API}/templates/mine/export", {"format": "docx"}, headers=auth(owner)),
        400,
        "validation_error",
    )
    assert "prompty" in error["details"]["format"][0]


def test_export_honours_an_accept_header_for_the_file_type(client: Client, owner, make_template) -> None:
    make_template(slug="mine", owner=owner)
    response = client.get(
        f"{API}/templates/mine/export",
        {"format": "prompd"},
        headers={**auth(owner), "Accept": "text/markdown"},
    )
    assert response.status_code == 200 and response.content.startswith(b"---\n")


def test_both_operations_are_in_the_openapi_document_with_the_error_envelope(client: Client) -> None:
    document = yaml.safe_load(client.get("/api/schema/").content)
    imported = document["paths"]["/api/v1/templates/import"]["post"]
    assert {"multipart/form-data", "application/json"} <= set(imported["requestBody"]["content"])
    assert "201" in imported["responses"] and "400" in imported["responses"]
    exported = document["paths"]["/api/v1/templates/{slug}/export"]["get"]
    assert {"text/markdown", "text/plain"} <= set(exported["responses"]["200"]["content"])
    assert "404" in exported["responses"]
    assert any(parameter["name"] == "format" for parameter in exported["parameters"])
