"""The editor's finishing touches (issue 12) without a browser: the in-place "Add" endpoint,
the nonce the code editor's styles need, the provider switch offered after an import, and
the Portuguese of the job's final announcement."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from django.utils.translation import pgettext

from jobs.models import Job, JobStatus
from providers.models import ProviderConnection
from templates_app.formats.service import import_template
from templates_app.models import Template

from .editor_helpers import editor_post

pytestmark = pytest.mark.django_db

ADD_URL = "/editor/add-parameter/"
UNCONFIGURED_PROMPT = """\
---
model: acme/llama-3
input:
  schema:
    topic: string, what it is about
---
Write about {{topic}}.
"""


def _add(client: Client, **data: str) -> Any:
    return client.post(ADD_URL, {"schema_format": "yaml", "schema": "", **data})


def test_adding_a_parameter_in_place_returns_the_schema_text_and_saves_nothing(
    client: Client, make_template, owner
) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    schema = "- name: topic  # kept\n  type: string\n"
    answer = _add(client, name="reader", schema=schema)
    assert answer.status_code == 200
    assert answer.json()["schema"] == schema + "- name: reader\n  type: string\n"
    assert "reader" in answer.json()["message"]
    answer = _add(client, name="count", schema_format="json", schema='[{"name": "topic", "type": "string"}]')
    assert json.loads(answer.json()["schema"]) == [
        {"name": "topic", "type": "string"},
        {"name": "count", "type": "string"},
    ]
    assert template.versions.count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "Not a name"}, "name"),
        ({"name": "topic", "schema": "- name: topic\n  type: string\n"}, "name"),
        ({"name": "reader", "schema": "- name: [unclosed\n"}, "schema"),
        ({"name": "reader", "schema_format": "toml"}, "schema_format"),
    ],
)
def test_adding_a_parameter_refuses_bad_input_naming_the_field(client: Client, owner, data, field) -> None:
    client.force_login(owner)
    answer = _add(client, **data)
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert list(errors) == [field] and errors[field][0]["message"]


def test_adding_a_parameter_needs_a_signed_in_user_and_a_post(client: Client, owner) -> None:
    assert _add(client, name="reader").status_code == 404
    client.force_login(owner)
    assert client.get(ADD_URL).status_code == 405


def test_the_editor_pages_let_styles_carry_a_nonce_the_code_editor_reads(
    client: Client, make_template, owner
) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    for url in (f"/t/{template.slug}/edit/", "/templates/new/"):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        nonce = re.search(r"style-src 'self' 'nonce-([^']+)'", policy)
        assert nonce, policy
        assert re.search(rf'src="/static/editor/code-editor[.\w]*js" nonce="{nonce[1]}"', response.text)
        assert "script-src 'self';" in policy + ";" and "unsafe-inline" not in policy
        for name in ("body", "system_prompt", "schema"):
            assert re.search(
                rf'<textarea[^>]*data-code-editor="[a-z]+"[^>]*id="id_editor-{name}"', response.text
            )
    # Other pages keep the plain policy.
    assert "nonce" not in client.get("/templates/mine/")["Content-Security-Policy"]


def test_each_colour_field_has_a_picker_that_submits_nothing(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    html = client.get(f"/t/{template.slug}/edit/").text
    pickers = re.findall(r'<input type="color"[^>]*>', html)
    assert len(pickers) == 8
    assert all("name=" not in picker and " hidden" in picker for picker in pickers)
    assert 'data-colour-inherits="id_editor-primary"' in html


def test_a_hex_the_picker_cannot_show_is_refused_at_its_field(client: Client, make_template, owner) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    html = client.post(f"/t/{template.slug}/edit/", editor_post(template, **{"editor-primary": "#12"})).text
    assert 'id="id_editor-primary_error"' in html and 'href="#id_editor-primary"' in html
    assert template.versions.count() == 1


def _unconfigured_connection() -> ProviderConnection:
    # Known here (a connection), not configured: its key variable is not set.
    return ProviderConnection.objects.create(
        name="acme", base_url="https://llm.example.com/v1", api_key_env="PROMPTLAB_PROVIDER_ACME_KEY"
    )


def test_a_file_whose_provider_is_not_configured_imports_with_a_warning(owner, monkeypatch) -> None:
    monkeypatch.delenv("PROMPTLAB_PROVIDER_ACME_KEY", raising=False)
    _unconfigured_connection()
    template, warnings = import_template(UNCONFIGURED_PROMPT, owner=owner, filename="acme.prompt")
    assert template.published_version.provider == "acme"
    assert any("“acme” is not configured" in warning for warning in warnings)
    monkeypatch.setenv("PROMPTLAB_PROVIDER_ACME_KEY", "secret")
    _again, warnings = import_template(UNCONFIGURED_PROMPT, owner=owner, filename="acme.prompt")
    assert not any("not configured" in warning for warning in warnings)


def test_the_import_page_offers_the_configured_providers_and_switching_makes_a_version(
    client: Client, owner, other_user, monkeypatch
) -> None:
    monkeypatch.delenv("PROMPTLAB_PROVIDER_ACME_KEY", raising=False)
    _unconfigured_connection()
    client.force_login(owner)
    upload = _upload()
    page = client.post("/import/", {"file": upload}).text
    template = Template.objects.get()
    imported = template.published_version
    assert "is not configured on this server" in page
    assert f'action="/t/{template.slug}/switch-provider/"' in page
    options = re.findall(r'<option value="([^"]+)"', page.split("data-provider-switch", 1)[1])
    assert "offline/offline-echo" in options and not any(o.startswith("acme/") for o in options)

    bad = client.post(f"/t/{template.slug}/switch-provider/", {"model_choice": "acme/llama-3"})
    assert bad.status_code == 200 and "Error:" in bad.text and 'href="#id_model_choice"' in bad.text
    assert template.versions.count() == 1

    client.force_login(other_user)
    assert (
        client.post(
            f"/t/{template.slug}/switch-provider/", {"model_choice": "offline/offline-echo"}
        ).status_code
        == 404
    )

    client.force_login(owner)
    done = client.post(f"/t/{template.slug}/switch-provider/", {"model_choice": "offline/offline-echo"})
    assert done.status_code == 302 and done["Location"] == f"/t/{template.slug}/history/"
    template.refresh_from_db()
    assert (template.published_version.provider, template.published_version.number) == ("offline", 2)
    assert template.published_version.body == imported.body
    assert template.published_version.parameters == imported.parameters


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("acme.prompt", UNCONFIGURED_PROMPT.encode(), content_type="text/plain")


def test_the_final_announcement_agrees_with_execucao_in_portuguese() -> None:
    said = {}
    with translation.override("pt-br"):
        for status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
            said[status] = Job(status=status).final_announcement
        running = Job(status=JobStatus.RUNNING).final_announcement
    assert said == {
        JobStatus.SUCCEEDED: "Execução concluída.",
        JobStatus.FAILED: "A execução falhou.",
        JobStatus.CANCELLED: "Execução cancelada.",
    }
    assert running == ""
    assert Job(status=JobStatus.SUCCEEDED).final_announcement == "Job finished: Succeeded."
    # The usage page counts runs ("execuções") by how they ended: feminine plural there.
    with translation.override("pt-br"):
        counted = [pgettext("runs counted", status) for status in ("Succeeded", "Failed", "Cancelled")]
    assert counted == ["Concluídas", "Com falha", "Canceladas"]
