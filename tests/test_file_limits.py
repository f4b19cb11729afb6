"""The template file size limit: one constant (``formats.service.MAX_FILE_BYTES``), the
same refusal at every door a file comes in by: the site's upload page, the admin's,
the API (as an upload or as text) and the import command."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from templates_app.formats.service import MAX_FILE_BYTES
from templates_app.models import Template

from .test_api import jwt_for

pytestmark = pytest.mark.django_db

HEAD = "---\nslug: big\nname: Big\n---\n"
TOO_LARGE = f"The file is too large (at most {MAX_FILE_BYTES} bytes)."


def a_file(size: int) -> str:
    """A PromptLab file of exactly ``size`` bytes (ASCII), a long body."""
    return HEAD + "x" * (size - len(HEAD))


def test_the_upload_pages_refuse_a_file_one_byte_over_the_limit(client: Client, staff) -> None:
    client.force_login(staff)
    for url in ("/import/", "/admin/templates_app/template/import/"):
        upload = SimpleUploadedFile("big.md", a_file(MAX_FILE_BYTES + 1).encode())
        response = client.post(url, {"file": upload})
        assert response.status_code == 200 and TOO_LARGE in response.content.decode(), url
    assert not Template.objects.exists()


def test_the_upload_page_says_the_limit_it_applies(client: Client, owner) -> None:
    client.force_login(owner)
    assert f"at most {MAX_FILE_BYTES // 1000} KB" in client.get("/import/").content.decode()


def test_the_api_refuses_a_file_or_its_text_over_the_limit(client: Client, owner) -> None:
    headers = {"Authorization": f"Bearer {jwt_for(owner)}"}
    upload = SimpleUploadedFile("big.md", a_file(MAX_FILE_BYTES + 1).encode())
    response = client.post("/api/v1/templates/import", {"file": upload}, headers=headers)
    assert response.status_code == 400 and TOO_LARGE in str(response.json()["error"]["details"])
    text = {"format": "promptlab", "content": a_file(MAX_FILE_BYTES + 1)}
    response = client.post("/api/v1/templates/import", text, content_type="application/json", headers=headers)
    assert response.status_code == 400 and "content" in response.json()["error"]["details"]
    assert not Template.objects.exists()


def test_the_import_command_refuses_a_file_over_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big.md").write_text(a_file(MAX_FILE_BYTES + 1))
    err = io.StringIO()
    with pytest.raises(CommandError, match="0 imported, 1 failed"):
        call_command("import_templates", str(tmp_path), stdout=io.StringIO(), stderr=err)
    assert TOO_LARGE in err.getvalue()
