"""Embeddable forms (/t/<slug>/embed/) and forms pre-filled from the URL, without a browser:
the origins allowlist on every road in, the frame headers, the cookie-free road (signed
form token, signed job capability), and pre-fill's checks. The browser half is in
test_embed_browser.py."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from jobs.embed import FORM_TOKEN_FIELD, job_capability
from jobs.models import Job
from promptlab import ratelimits
from templates_app.editor import TemplateMetaForm
from templates_app.embedding import normalize_origin
from templates_app.models import Template, Visibility

from .conftest import SIMPLE_SCHEMA
from .editor_helpers import editor_post

pytestmark = pytest.mark.django_db

ORIGIN = "https://shop.example"
HIDDEN_SCHEMA = [
    *SIMPLE_SCHEMA,
    {
        "name": "campaign",
        "type": "choice",
        "choices": ["spring", "autumn"],
        "default": "spring",
        "hidden": True,
    },
]
HIDDEN_BODY = "Write {{ count }} lines about {{ topic }} for {{ campaign }}."


def embeddable(make_template: Any, **kwargs: Any) -> Template:
    template = make_template(**kwargs)
    template.embed_origins = [ORIGIN]
    template.save()
    return template


def embed_url(template: Template) -> str:
    return reverse("templates_app:embed", args=[template.slug])


def parameter_form(html: str) -> str:
    """The run form's HTML alone (the language switcher's ``next`` repeats the link)."""
    return html[html.index('class="parameter-form"') :].split("</form>")[0]


def form_token_of(html: str) -> str:
    match = re.search(rf'name="{FORM_TOKEN_FIELD}" value="([^"]+)"', html)
    assert match, "the embedded form carries no token"
    return match.group(1)


# --- The allowlist ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("https://Shop.Example/", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("https://shop.example:8443", "https://shop.example:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_an_origin_is_written_one_way(given: str, written: str) -> None:
    assert normalize_origin(given) == written


@pytest.mark.parametrize(
    "given",
    [
        "http://shop.example",  # plain http only for loopback
        "https://shop.example/path",
        "https://*.shop.example",
        "shop.example",
        "https://shop .example",
        "https://user@shop.example",
        "javascript:alert(1)",
        "https://shop.example;script-src *",
        "https://shop.example?x=1",
        "'self'",
        "https://shop.example:99999",
    ],
)
def test_what_is_not_an_origin_is_refused_by_name(given: str) -> None:
    with pytest.raises(ValidationError) as raised:
        normalize_origin(given)
    assert given.strip()[:20] in raised.value.messages[0]


def test_the_editor_saves_origins_one_a_line_and_names_the_bad_one(
    client: Client, make_template: Any, owner: User
) -> None:
    template = make_template(owner=owner)
    client.force_login(owner)
    url = reverse("templates_app:edit", args=[template.slug])

    bad = {"meta-embed_origins": "https://ok.example\nhttp://shop.example"}
    refused = client.post(url, editor_post(template, **bad), HTTP_ACCEPT_LANGUAGE="pt-br")
    assert refused.status_code == 200
    assert "“http://shop.example” deve usar https://" in refused.content.decode()  # translated
    template.refresh_from_db()
    assert template.embed_origins == []

    good = {
        "meta-embed_origins": "https://OK.example/\nhttp://localhost:3000\n",
        "meta-allow_prefill_hidden": "on",
    }
    assert client.post(url, editor_post(template, **good)).status_code == 302
    template.refresh_from_db()
    assert template.embed_origins == ["https://ok.example", "http://localhost:3000"]
    assert template.allow_prefill_hidden is True
    # Shown back as written, one a line.
    assert (
        TemplateMetaForm(instance=template).initial["embed_origins"]
        == "https://ok.example\nhttp://localhost:3000"
    )


def test_the_api_reads_and_writes_the_new_fields_and_names_a_bad_origin(
    client: Client, make_template: Any, owner: User
) -> None:
    template = make_template(owner=owner)
    headers = {"Authorization": f"Bearer {AccessToken.for_user(owner)}"}
    url = f"/api/v1/templates/{template.slug}"

    read = client.get(url, headers=headers).json()
    assert read["embed_origins"] == [] and read["allow_prefill_hidden"] is False

    refused = client.patch(
        url,
        {"embed_origins": ["https://a.example", "https://b.example/x"]},
        "application/json",
        headers=headers,
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["embed_origins"] == [
        "“https://b.example/x” is not a site's address: "
        "write https://host or https://host:port, with no path."
    ]

    saved = client.patch(
        url,
        {"embed_origins": ["https://A.example/"], "allow_prefill_hidden": True},
        "application/json",
        headers=headers,
    )
    assert saved.status_code == 200, saved.content
    assert saved.json()["embed_origins"] == ["https://a.example"]
    template.refresh_from_db()
    assert template.embed_origins == ["https://a.example"] and template.allow_prefill_hidden

    schema = client.get("/api/schema/", {"format": "json"}).json()
    properties = schema["components"]["schemas"]["Template"]["properties"]
    assert {"embed_origins", "allow_prefill_hidden"} <= set(properties)


# --- Framing ------------------------------------------------------------------------


def test_the_embed_page_may_be_framed_by_the_listed_sites_only(client: Client, make_template: Any) -> None:
    template = embeddable(make_template)
    response = client.get(embed_url(template))
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert f"frame-ancestors {ORIGIN}" in csp and "script-src 'self'" in csp
    assert "X-Frame-Options" not in response
    assert not response.cookies, "a framed page must not depend on (or set) a cookie"
    html = response.content.decode()
    assert 'class="site-header"' not in html and 'class="site-footer"' not in html
    assert f'data-embed-origins="{ORIGIN}"' in html

    # Every other page keeps refusing frames.
    page = client.get(template.get_absolute_url())
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    assert page["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("visibility", [Visibility.PRIVATE, Visibility.SIGNED_IN])
def test_only_a_template_anyone_may_run_can_be_embedded(
    client: Client, make_template: Any, owner: User, visibility: str
) -> None:
    template = embeddable(make_template, owner=owner, visibility=visibility)
    client.force_login(owner)  # even its owner: the frame runs everyone as a visitor
    assert client.get(embed_url(template)).status_code == 404


def test_a_public_template_without_sites_is_not_embeddable(client: Client, make_template: Any) -> None:
    assert client.get(embed_url(make_template())).status_code == 404


# --- The cookie-free road -------------------------------------------------------------


def test_a_submission_runs_as_a_visitor_and_opens_its_job_by_capability(
    client: Client, make_template: Any
) -> None:
    template = embeddable(make_template)
    token = form_token_of(client.get(embed_url(template)).content.decode())
    browser = Client(enforce_csrf_checks=True)  # and no cookie at all

    response = browser.post(embed_url(template), {FORM_TOKEN_FIELD: token, "topic": "trams", "count": "2"})

    assert response.status_code == 302, response.content
    assert not response.cookies
    job = Job.objects.get()
    assert job.owner is None and job.session_key == "" and job.inputs == {"topic": "trams", "count": 2}
    assert response["Location"] == reverse("jobs:embedded", args=[job_capability(job)])
    page = browser.get(response["Location"])
    assert page.status_code == 200 and f"frame-ancestors {ORIGIN}" in page["Content-Security-Policy"]
    assert "X-Frame-Options" not in page and not page.cookies
    progress = browser.get(reverse("jobs:embedded_progress", args=[job_capability(job)]))
    assert progress.status_code == 200 and progress.json()["status"] == job.status
    # No session-bound page shows it, and a capability can't be made up.
    assert browser.get(job.get_absolute_url()).status_code == 404
    forged = job_capability(job)[:-2] + "xx"
    assert browser.get(reverse("jobs:embedded", args=[forged])).status_code == 404
    assert browser.get(reverse("jobs:embedded", args=[str(job.pk)])).status_code == 404

    # The template stops being embeddable: its jobs' frames go too.
    template.visibility = Visibility.SIGNED_IN
    template.save()
    assert browser.get(response["Location"]).status_code == 404


@pytest.mark.parametrize(
    "token",
    ["", "forged", "another template's"],
)
def test_a_submission_without_this_forms_token_creates_nothing(
    client: Client, make_template: Any, token: str
) -> None:
    template = embeddable(make_template)
    if token == "another template's":
        token = form_token_of(client.get(embed_url(embeddable(make_template, slug="other"))).content.decode())
    response = client.post(embed_url(template), {FORM_TOKEN_FIELD: token, "topic": "trams", "count": "2"})
    assert response.status_code == 403
    assert "This form had expired" in response.content.decode()
    assert 'value="trams"' in response.content.decode()  # kept, with a fresh token to send it again
    assert not Job.objects.exists()


def test_a_submission_from_another_sites_page_creates_nothing(client: Client, make_template: Any) -> None:
    template = embeddable(make_template)
    token = form_token_of(client.get(embed_url(template)).content.decode())
    response = client.post(
        embed_url(template),
        {FORM_TOKEN_FIELD: token, "topic": "trams"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403 and not Job.objects.exists()


def test_the_embedded_form_checks_inputs_as_the_site_does(client: Client, make_template: Any) -> None:
    template = embeddable(make_template)
    token = form_token_of(client.get(embed_url(template)).content.decode())
    response = client.post(embed_url(template), {FORM_TOKEN_FIELD: token, "topic": "x" * 51, "count": "9"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>Error:" in html and 'href="#id_topic"' in html and 'href="#id_count"' in html
    assert not Job.objects.exists()


def test_the_embedded_form_has_the_sites_rate_limits(
    client: Client, make_template: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimits, "ANONYMOUS_RATES", ("2/m", "100/h"))
    template = embeddable(make_template)
    token = form_token_of(client.get(embed_url(template)).content.decode())
    data = {FORM_TOKEN_FIELD: token, "topic": "trams", "count": "1"}
    assert client.post(embed_url(template), data).status_code == 302
    assert client.post(embed_url(template), {**data, "topic": "buses"}).status_code == 302
    refused = client.post(embed_url(template), {**data, "topic": "bikes"})
    assert refused.status_code == 429 and "Retry-After" in refused
    assert "You have run templates too often" in refused.content.decode()
    assert Job.objects.count() == 2


def test_the_manager_sees_the_snippet_on_the_template_page(
    client: Client, make_template: Any, owner: User, other_user: User
) -> None:
    template = embeddable(make_template, owner=owner)
    client.force_login(owner)
    html = client.get(template.get_absolute_url()).content.decode()
    assert "&lt;iframe src=&quot;http://testserver/t/haiku/embed/&quot;" in html
    assert "http://testserver/static/js/embed-parent.js" in html
    assert 'data-copy="#embed-snippet"' in html
    client.force_login(other_user)
    assert "embed-snippet" not in client.get(template.get_absolute_url()).content.decode()


# --- Pre-fill from the URL ------------------------------------------------------------


def test_a_link_fills_the_fields_it_names_and_ignores_the_rest(client: Client, make_template: Any) -> None:
    template = make_template()
    response = client.get(template.get_absolute_url(), {"topic": "trams", "count": "4", "hue": "vermilion"})
    html = response.content.decode()
    assert response.status_code == 200 and "Error:" not in html
    assert re.search(r'name="topic"[^>]*value="trams"|value="trams"[^>]*name="topic"', html)
    assert re.search(r'name="count"[^>]*value="4"|value="4"[^>]*name="count"', html)
    assert "vermilion" not in parameter_form(html)
    assert not Job.objects.exists()


def test_an_invalid_value_in_the_link_shows_the_usual_errors_and_creates_nothing(
    client: Client, make_template: Any
) -> None:
    template = make_template()
    for language, title, words in (
        ("en", "<title>Error:", "There is a problem"),
        ("pt-br", "<title>Erro:", "Há um problema"),
    ):
        response = client.get(template.get_absolute_url(), {"count": "9"}, HTTP_ACCEPT_LANGUAGE=language)
        html = response.content.decode()
        assert response.status_code == 200
        assert title in html and words in html
        assert 'href="#id_count"' in html and 'aria-invalid="true"' in html
        assert 'href="#id_topic"' not in html  # only what the link gave is checked
    assert not Job.objects.exists()


def test_a_hidden_parameter_follows_the_templates_setting(client: Client, make_template: Any) -> None:
    template = make_template(parameters=HIDDEN_SCHEMA, body=HIDDEN_BODY)
    url = template.get_absolute_url()

    # Off (the default): the link can't set it, nor can a submission.
    assert "autumn" not in parameter_form(client.get(url, {"campaign": "autumn"}).content.decode())
    client.post(url, {"topic": "trams", "count": "1", "campaign": "autumn"})
    assert Job.objects.get().inputs["campaign"] == "spring"
    Job.objects.all().delete()

    template.allow_prefill_hidden = True
    template.save()
    html = client.get(url, {"campaign": "autumn", "topic": "trams"}).content.decode()
    assert re.search(r'<input type="hidden" name="campaign" value="autumn"', html)
    assert client.post(url, {"topic": "trams", "count": "1", "campaign": "autumn"}).status_code == 302
    assert Job.objects.get().inputs["campaign"] == "autumn"
    Job.objects.all().delete()
    # Checked by its own field, and without a value it keeps its fixed one.
    refused = client.get(url, {"campaign": "winter"}).content.decode()
    assert "<title>Error:" in refused and "Campaign:" in refused
    client.post(url, {"topic": "trams", "count": "1"})
    assert Job.objects.get().inputs["campaign"] == "spring"

    # The API is unchanged: it never sets a hidden parameter.
    owner = User.objects.create_user("api@example.com", "correct horse battery")
    response = client.post(
        f"/api/v1/templates/{template.slug}/generate",
        json.dumps({"inputs": {"topic": "trams", "campaign": "autumn"}}),
        "application/json",
        headers={"Authorization": f"Bearer {AccessToken.for_user(owner)}"},
    )
    assert response.status_code == 400
    assert "campaign" in response.json()["error"]["details"]["inputs"]


def test_the_embedded_form_is_prefilled_too(client: Client, make_template: Any) -> None:
    template = embeddable(make_template)
    html = client.get(embed_url(template), {"topic": "trams"}).content.decode()
    assert 'value="trams"' in html and "Error:" not in html
    assert "<title>Error:" in client.get(embed_url(template), {"count": "0"}).content.decode()


def test_only_the_templates_managers_change_its_embedding(
    client: Client, make_template: Any, owner: User, other_user: User, staff: User
) -> None:
    template = make_template(owner=owner)
    url = f"/api/v1/templates/{template.slug}"
    body = {"embed_origins": ["https://shop.example"], "allow_prefill_hidden": True}

    def patch(user: User | None) -> int:
        headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}"} if user else {}
        return client.patch(url, body, "application/json", headers=headers).status_code

    assert patch(None) == 401
    assert patch(other_user) == 403
    template.refresh_from_db()
    assert template.embed_origins == [] and not template.allow_prefill_hidden
    assert patch(owner) == 200
    assert patch(staff) == 200
    # Anyone who reads the template reads them.
    read = client.get(url, headers={"Authorization": f"Bearer {AccessToken.for_user(other_user)}"})
    assert read.json()["embed_origins"] == ["https://shop.example"]
