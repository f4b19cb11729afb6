"""The template file size limit: one constant (``formats.service.MAX_FILE_BYTES``), the
same refusal at every door a file comes in by: the site's upload page, the admin's,
the API (as an upload or as text) and the import command."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.utils import FileProxyMixin
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
    assert response.status_code == 400 and response.json()["error"]["details"]["content"] == [TOO_LARGE]
    assert not Template.objects.exists()


def multibyte_file(size: int) -> str:
    """A PromptLab file of ``size`` bytes as UTF-8 but about half as many characters."""
    body = size - len(HEAD)
    return HEAD + "é" * (body // 2) + "x" * (body % 2)


def send_text(client: Client, owner: Any, content: str) -> Any:
    """Import ``content`` through the API as JSON text, sent as UTF-8 (escaped as ``\\u00e9``,
    the body would be three times the text and over the API's body limit)."""
    body = json.dumps({"format": "promptlab", "content": content}, ensure_ascii=False).encode()
    headers = {"Authorization": f"Bearer {jwt_for(owner)}"}
    return client.post("/api/v1/templates/import", body, content_type="application/json", headers=headers)


def test_the_api_counts_a_texts_bytes_not_its_characters(client: Client, owner) -> None:
    headers = {"Authorization": f"Bearer {jwt_for(owner)}"}
    content = multibyte_file(MAX_FILE_BYTES + 1)
    assert len(content) < MAX_FILE_BYTES < len(content.encode())
    response = send_text(client, owner, content)
    assert response.status_code == 400 and response.json()["error"]["details"]["content"] == [TOO_LARGE]
    # The same text uploaded as a file: the same refusal.
    upload = SimpleUploadedFile("big.md", content.encode())
    response = client.post("/api/v1/templates/import", {"file": upload}, headers=headers)
    assert response.status_code == 400 and response.json()["error"]["details"]["file"] == [TOO_LARGE]
    # At the limit exactly, in bytes, it is a file like any other.
    response = send_text(client, owner, multibyte_file(MAX_FILE_BYTES))
    assert response.status_code == 201, response.content
    assert len(Template.objects.get(slug="big").published_version.body.encode()) == MAX_FILE_BYTES - len(HEAD)


def test_a_big_upload_is_read_no_further_than_the_limit(client: Client, owner, monkeypatch) -> None:
    reads: list[tuple[Any, ...]] = []
    proxied = FileProxyMixin.read

    def counted(self: Any) -> Any:
        read = proxied.fget(self)

        def recorded(*args: Any) -> Any:
            if not isinstance(self, SimpleUploadedFile):  # the test client reading what it sends
                reads.append(args)
            return read(*args)

        return recorded

    monkeypatch.setattr(FileProxyMixin, "read", property(counted))
    headers = {"Authorization": f"Bearer {jwt_for(owner)}"}
    # As big as the API lets a body be (larger is a 413 before anything reads it).
    upload = SimpleUploadedFile("big.md", a_file(settings.API_MAX_BODY_BYTES - 10_000).encode())
    response = client.post("/api/v1/templates/import", {"file": upload}, headers=headers)
    assert response.status_code == 400 and response.json()["error"]["details"]["file"] == [TOO_LARGE]
    assert reads == [(MAX_FILE_BYTES + 1,)]


def test_the_import_command_refuses_a_file_over_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big.md").write_text(a_file(MAX_FILE_BYTES + 1))
    err = io.StringIO()
    with pytest.raises(CommandError, match="0 imported, 1 failed"):
        call_command("import_templates", str(tmp_path), stdout=io.StringIO(), stderr=err)
    assert TOO_LARGE in err.getvalue()
