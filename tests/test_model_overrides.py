"""Choosing another model than the template's: only one its author listed, and only
one with a price, unless the caller is staff (issue 9, item 7)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from jobs.models import Job
from providers.models import ModelPrice
from templates_app.formats.service import export_template
from templates_app.models import Template, Visibility

from .conftest import SIMPLE_SCHEMA
from .editor_helpers import editor_post

pytestmark = pytest.mark.django_db

INPUTS = {"topic": "tides", "count": 2}
LISTED = ["openai/gpt-test-1", "anthropic/claude-unpriced"]


@pytest.fixture
def shared(owner: User, llm) -> Template:
    """The owner's template, visible to every signed-in user, listing two other models
    (one priced); ``llm`` configures the anthropic and openai providers."""
    template = Template.objects.create(
        slug="shared", name="Shared", owner=owner, visibility=Visibility.SIGNED_IN
    )
    template.create_version(
        body="Write {{ count }} lines about {{ topic }}.", parameters=SIMPLE_SCHEMA, allowed_models=LISTED
    )
    ModelPrice.objects.update_or_create(
        provider="openai", model="gpt-test-1",
        defaults={"input_per_million": Decimal("2"), "output_per_million": Decimal("8")},
    )  # fmt: skip
    return template


@pytest.fixture
def staff_member(db: None) -> User:
    return User.objects.create_user("crew@example.com", "correct horse battery", is_staff=True)


def generate(user: User | None, body: dict[str, Any], language: str = "en") -> Any:
    headers = {"Accept-Language": language}
    if user is not None:
        headers["Authorization"] = f"Bearer {AccessToken.for_user(user)}"
    return Client().post(
        "/api/v1/templates/shared/generate",
        data=json.dumps({"inputs": INPUTS, **body}),
        content_type="application/json",
        headers=headers,
    )


def refusal(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.content.decode()[:500]
    return response.json()["error"]["details"]


ANY_MODEL = {"provider": "anthropic", "model": "claude-opus-4-any-model"}


@pytest.mark.parametrize("who", ["owner", "other"])
def test_the_issues_override_to_an_unlisted_model_is_refused_naming_the_field(
    shared: Template, owner: User, other_user: User, who: str
) -> None:
    user = {"owner": owner, "other": other_user}[who]
    details = refusal(generate(user, ANY_MODEL))
    assert list(details) == ["model"]
    assert "anthropic/claude-opus-4-any-model" in details["model"][0]
    assert "openai/gpt-test-1" in details["model"][0]  # says what may be chosen
    assert not Job.objects.exists()


def test_the_refusal_is_translated(shared: Template, other_user: User) -> None:
    details = refusal(generate(other_user, ANY_MODEL, language="pt-BR"))
    assert details["model"][0].startswith(
        "Este template não permite rodar em “anthropic/claude-opus-4-any-model”"
    )


def test_anonymous_callers_cannot_generate_at_all(shared: Template) -> None:
    assert generate(None, ANY_MODEL).status_code == 401
    assert not Job.objects.exists()


@pytest.mark.parametrize("who", ["owner", "other"])
def test_a_listed_priced_model_runs(shared: Template, owner: User, other_user: User, who: str) -> None:
    user = {"owner": owner, "other": other_user}[who]
    response = generate(user, {"provider": "openai", "model": "gpt-test-1"})
    assert response.status_code == 202, response.content
    job = Job.objects.get()
    assert (job.provider, job.model, job.owner) == ("openai", "gpt-test-1", user)


def test_a_listed_model_without_a_price_is_refused(shared: Template, other_user: User) -> None:
    details = refusal(generate(other_user, {"provider": "anthropic", "model": "claude-unpriced"}))
    assert "no price" in details["model"][0]
    assert not Job.objects.exists()


def test_a_provider_alone_keeps_the_templates_model_and_is_refused_naming_the_provider(
    shared: Template, other_user: User
) -> None:
    details = refusal(generate(other_user, {"provider": "openai"}))
    assert list(details) == ["provider"] and "openai/offline-echo" in details["provider"][0]


def test_naming_the_templates_own_model_is_no_override(shared: Template, other_user: User) -> None:
    response = generate(other_user, {"provider": "offline", "model": "offline-echo"})
    assert response.status_code == 202, response.content


def test_a_template_listing_nothing_runs_only_on_its_own_model(shared: Template, owner: User) -> None:
    shared.save_content({"allowed_models": []}, author=owner, publish=True)
    details = refusal(generate(owner, {"provider": "openai", "model": "gpt-test-1"}))
    assert "only on its own model (offline/offline-echo)" in details["model"][0]


def test_staff_may_run_any_model(shared: Template, staff_member: User) -> None:
    response = generate(staff_member, ANY_MODEL)
    assert response.status_code == 202, response.content
    assert Job.objects.get().model == "claude-opus-4-any-model"


def test_the_browser_form_offers_no_override_and_ignores_one_posted(
    shared: Template, other_user: User
) -> None:
    client = Client()
    client.force_login(other_user)
    page = client.get(shared.get_absolute_url()).content.decode()
    assert 'name="model"' not in page and 'name="provider"' not in page
    response = client.post(shared.get_absolute_url(), {**INPUTS, **ANY_MODEL})
    assert response.status_code == 302
    job = Job.objects.get()
    assert (job.provider, job.model) == ("offline", "offline-echo")


def test_the_browser_form_ignores_an_override_from_an_anonymous_visitor(make_template) -> None:
    template = make_template(slug="open")
    response = Client().post(template.get_absolute_url(), {**INPUTS, **ANY_MODEL})
    assert response.status_code == 302
    assert (Job.objects.get().provider, Job.objects.get().model) == ("offline", "offline-echo")


# --- Where the list is written: API, site editor, admin editor, file format, OpenAPI -------------------


def api(user: User, method: str, path: str, body: Any = None) -> Any:
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {AccessToken.for_user(user)}"}}
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return getattr(Client(), method)(f"/api/v1{path}", **kwargs)


def test_the_api_reads_and_writes_the_list(shared: Template, owner: User) -> None:
    read = api(owner, "get", "/templates/shared").json()
    assert read["model_settings"]["allowed_models"] == LISTED
    patched = api(
        owner, "patch", "/templates/shared", {"model_settings": {"allowed_models": ["openai/gpt-x"]}}
    )
    assert patched.status_code == 200, patched.content
    shared.refresh_from_db()
    assert (
        shared.published_version.allowed_models == ["openai/gpt-x"] and shared.published_version.number == 2
    )


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        (["gpt-4o"], "provider/model"),
        (["openai/ gpt"], "provider/model"),
        (["openai/gpt\u0000"], "Null characters"),
        (["openai/gpt", "openai/gpt"], "twice"),
        (["nowhere/gpt"], "Unknown provider"),
    ],
)
def test_the_api_refuses_a_bad_list_naming_the_field(
    shared: Template, owner: User, entries: list[str], words: str
) -> None:
    response = api(owner, "patch", "/templates/shared", {"model_settings": {"allowed_models": entries}})
    details = refusal(response)
    assert words in json.dumps(details["model_settings"]["allowed_models"], ensure_ascii=False)
    assert shared.versions.count() == 1


def test_the_openapi_document_describes_the_list() -> None:
    schema = Client().get("/api/schema/?format=json").json()
    settings_schema = schema["components"]["schemas"]["ModelSettingsRequest"]["properties"]["allowed_models"]
    assert settings_schema["type"] == "array" and settings_schema["items"]["type"] == "string"
    assert settings_schema["maxItems"] == 50 and "provider/model" in settings_schema["description"]
    generate_model = schema["components"]["schemas"]["GenerateRequest"]["properties"]["model"]
    assert "allowed_models" in generate_model["description"]


def test_the_site_editor_saves_the_list_and_shows_errors_beside_it(shared: Template, owner: User) -> None:
    client = Client()
    client.force_login(owner)
    url = f"/t/{shared.slug}/edit/"
    page = client.get(url).content.decode()
    assert "openai/gpt-test-1\nanthropic/claude-unpriced" in page  # one per line
    bad = client.post(url, editor_post(shared, **{"editor-allowed_models": "gpt-4o\nopenai/gpt-4o"}))
    assert bad.status_code == 200 and shared.versions.count() == 1
    assert (
        "gpt-4o” is not a provider/model pair"
        in bad.content.decode().split('id="id_editor-allowed_models_error"')[1][:400]
    )
    good = client.post(
        url, editor_post(shared, **{"editor-allowed_models": "openai/gpt-4o\n\nopenai/gpt-test-1\n"})
    )
    assert good.status_code == 302
    shared.refresh_from_db()
    assert shared.published_version.allowed_models == ["openai/gpt-4o", "openai/gpt-test-1"]


def test_the_admin_editor_saves_the_list(shared: Template, staff: User) -> None:
    client = Client()
    client.force_login(staff)
    url = f"/admin/templates_app/template/{shared.pk}/editor/"
    assert 'name="editor-allowed_models"' in client.get(url).content.decode()
    assert (
        client.post(url, editor_post(shared, **{"editor-allowed_models": "anthropic/claude-x"})).status_code
        == 302
    )
    shared.refresh_from_db()
    assert shared.published_version.allowed_models == ["anthropic/claude-x"]


def test_formats_that_cannot_hold_the_list_say_so(shared: Template) -> None:
    assert "allowed_models:" in export_template(shared, "promptlab").content
    for name in ("prompd", "prompty", "dotprompt"):
        exported = export_template(shared, name)
        assert any("allowed_models" in warning for warning in exported.warnings), name


# --- The template's own model: an override by another name unless it is priced ------------------


UNPRICED_OWN = {
    "slug": "own-model",
    "name": "Own model",
    "visibility": "signed_in",
    "body": "Write {{ count }} lines about {{ topic }}.",
    "parameters": SIMPLE_SCHEMA,
    "model_settings": {"provider": "anthropic", "model": "claude-opus-4-any-model", "max_tokens": 100},
}


def own_model_template(author: User) -> Template:
    created = api(author, "post", "/templates", UNPRICED_OWN)
    assert created.status_code == 201, created.content
    return Template.objects.get(slug="own-model")


def run_own(user: User, language: str = "en") -> Any:
    return Client().post(
        "/api/v1/templates/own-model/generate",
        data=json.dumps({"inputs": INPUTS}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {AccessToken.for_user(user)}", "Accept-Language": language},
    )


@pytest.mark.parametrize("who", ["author", "other"])
def test_a_non_staff_authors_template_on_an_unpriced_model_does_not_run(
    owner: User, other_user: User, llm, who: str
) -> None:
    """The issue's override, written as the template's own model instead of sent with the run."""
    own_model_template(owner)
    details = refusal(run_own({"author": owner, "other": other_user}[who]))
    assert list(details) == ["model"]
    assert "anthropic/claude-opus-4-any-model" in details["model"][0] and "no price" in details["model"][0]
    assert not Job.objects.exists() and llm.call_count == 0


def test_the_unpriced_own_model_refusal_is_translated(owner: User, llm) -> None:
    own_model_template(owner)
    details = refusal(run_own(owner, language="pt-BR"))
    assert details["model"][0].startswith("Este template roda em “anthropic/claude-opus-4-any-model”")


def test_the_form_page_says_why_an_unpriced_own_model_does_not_run(
    owner: User, other_user: User, llm
) -> None:
    """Written in the site editor this time; the form page shows the reason and creates no job."""
    template = own_model_template(owner)
    client = Client()
    client.force_login(owner)
    saved = client.post(
        f"/t/{template.slug}/edit/",
        editor_post(template, **{"editor-provider": "anthropic", "editor-model": "claude-opus-4-other"}),
    )
    assert saved.status_code == 302
    visitor = Client()
    visitor.force_login(other_user)
    page = visitor.post(template.get_absolute_url(), INPUTS, follow=True)
    assert "“anthropic/claude-opus-4-other”, which has no price" in page.content.decode()
    assert not Job.objects.exists() and llm.call_count == 0


def test_a_non_staff_authors_template_on_a_priced_model_runs(owner: User, other_user: User, llm) -> None:
    ModelPrice.objects.create(
        provider="anthropic", model="claude-opus-4-any-model",
        input_per_million=Decimal("5"), output_per_million=Decimal("25"),
    )  # fmt: skip
    own_model_template(owner)
    assert run_own(other_user).status_code == 202
    assert Job.objects.get().model == "claude-opus-4-any-model"


def test_a_staff_authors_template_may_run_on_an_unpriced_model(
    staff_member: User, other_user: User, llm
) -> None:
    own_model_template(staff_member)
    assert run_own(other_user).status_code == 202


def test_staff_may_run_a_template_on_an_unpriced_model(owner: User, staff_member: User, llm) -> None:
    own_model_template(owner)
    assert run_own(staff_member).status_code == 202
