"""The REST API: auth, templates, generation, jobs, the error envelope and rate limits."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import PersonalToken, User
from jobs.models import Job, JobStatus
from providers.models import ModelPrice
from templates_app.models import Template, Visibility
from workspaces.models import Workspace

from .conftest import SIMPLE_SCHEMA

pytestmark = pytest.mark.django_db

API = "/api/v1"


class Caller:
    """One way of calling the API: a label and the headers it sends."""

    def __init__(self, label: str, headers: dict[str, str]) -> None:
        self.label = label
        self.headers = headers

    def __call__(self, client: Client, method: str, path: str, body: Any = None) -> Any:
        kwargs: dict[str, Any] = {"headers": self.headers}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method)(f"{API}{path}", **kwargs)

    def __repr__(self) -> str:
        return self.label


def jwt_for(user: User) -> str:
    return str(AccessToken.for_user(user))


def expired_jwt_for(user: User) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(minutes=1))
    return str(token)


@pytest.fixture
def callers(owner: User, other_user: User) -> dict[str, Caller]:
    _token, owner_raw = PersonalToken.issue(owner, "script")
    revoked, revoked_raw = PersonalToken.issue(owner, "old script")
    revoked.revoke()
    return {
        "owner": Caller("owner (JWT)", {"Authorization": f"Bearer {jwt_for(owner)}"}),
        "owner_token": Caller("owner (personal token)", {"Authorization": f"Bearer {owner_raw}"}),
        "other": Caller("another user", {"Authorization": f"Bearer {jwt_for(other_user)}"}),
        "anonymous": Caller("anonymous", {}),
        "expired": Caller("expired JWT", {"Authorization": f"Bearer {expired_jwt_for(owner)}"}),
        "revoked": Caller("revoked token", {"Authorization": f"Bearer {revoked_raw}"}),
    }


@pytest.fixture
def private_template(owner: User) -> Template:
    template = Template.objects.create(slug="mine", name="Mine", owner=owner, visibility=Visibility.PRIVATE)
    template.create_version(body="Write {{ count }} lines about {{ topic }}.", parameters=SIMPLE_SCHEMA)
    return template


@pytest.fixture
def owner_job(private_template: Template, owner: User) -> Job:
    from jobs.services import submit_generation

    return submit_generation(private_template.published_version, {"topic": "x", "count": 2}, owner=owner)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content.decode()[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["error"]["request_id"] == response["X-Request-ID"]  # the same id in both
    return body["error"]


# --- The access matrix: every endpoint, five kinds of caller ------------------

ENDPOINTS: list[tuple[str, str, Any, int, int]] = [
    # method, path, body, owner's status, another user's status
    ("get", "/templates", None, 200, 200),
    ("post", "/templates", {"slug": "new-one", "name": "New", "body": "Hi"}, 201, 201),
    ("get", "/templates/mine", None, 200, 404),
    ("patch", "/templates/mine", {"name": "Renamed"}, 200, 404),
    ("get", "/templates/mine/versions", None, 200, 404),
    ("get", "/templates/mine/schema", None, 200, 404),
    ("post", "/templates/mine/generate", {"inputs": {"topic": "rain", "count": 2}}, 202, 404),
    ("get", "/jobs", None, 200, 200),
    ("get", "/jobs/{job}", None, 200, 404),
    ("post", "/jobs/{job}/cancel", None, 200, 404),
    ("post", "/jobs/{job}/retry", None, 409, 404),  # only a failed workflow run retries: 409 here
    ("post", "/templates/mine/batches", {"rows": [{"topic": "rain", "count": 2}]}, 201, 404),
    ("get", "/batches", None, 200, 200),
    ("get", "/batches/{batch}", None, 200, 404),
    ("get", "/batches/{batch}/rows", None, 200, 404),
    ("get", "/batches/{batch}/results?format=csv", None, 200, 404),
    ("post", "/batches/{batch}/retry", None, 200, 404),
    ("post", "/batches/{batch}/cancel", None, 200, 404),
    ("get", "/batches/{batch}/events", None, 200, 404),
    ("get", "/auth/me", None, 200, 200),
    ("get", "/stats", None, 200, 200),
    ("get", "/auth/tokens", None, 200, 200),
    ("post", "/auth/tokens", {"name": "ci"}, 201, 201),
    # The owner's personal workspace (every role and caller: tests/test_workspace_api.py).
    ("get", "/workspaces", None, 200, 200),
    ("post", "/workspaces", {"name": "Team"}, 201, 201),
    ("get", "/workspaces/{workspace}", None, 200, 404),
    ("patch", "/workspaces/{workspace}", {"members_see_all_jobs": True}, 200, 404),
    ("get", "/workspaces/{workspace}/members", None, 200, 404),
    ("patch", "/workspaces/{workspace}/members/{member}", {"role": "editor"}, 409, 404),
    ("delete", "/workspaces/{workspace}/members/{member}", None, 409, 404),
    ("post", "/workspaces/{workspace}/transfer", {"member": "{member}"}, 409, 404),
    ("delete", "/workspaces/{workspace}", None, 409, 404),  # a personal one is never deleted
    ("delete", "/templates/mine", None, 204, 404),  # soft: its job keeps its history
    ("delete", "/auth/tokens/{token}", None, 204, 404),  # revoking twice is still a 204
]


@pytest.mark.parametrize(("method", "path", "body", "owner_status", "other_status"), ENDPOINTS)
def test_access_matrix(
    client: Client,
    callers,
    owner_job: Job,
    method: str,
    path: str,
    body: Any,
    owner_status: int,
    other_status: int,
) -> None:
    path = path.replace("{job}", str(owner_job.pk))
    if "{batch}" in path:
        from batches.services import create_batch

        batch = create_batch(owner_job.template_version.template, owner_job.owner, [(1, {"topic": "x"}, {})])
        path = path.replace("{batch}", str(batch.pk))
    if "{token}" in path:
        path = path.replace("{token}", str(PersonalToken.issue(owner_job.owner, "to revoke")[0].pk))
    if "{workspace}" in path:
        personal = Workspace.objects.personal_for(owner_job.owner)
        member = str(personal.memberships.get().pk)
        path = path.replace("{workspace}", personal.slug).replace("{member}", member)
        body = json.loads(json.dumps(body).replace('"{member}"', member))
    for name in ("anonymous", "expired", "revoked"):
        assert_error(callers[name](client, method, path, body), 401, "not_authenticated")
    if path == "/templates" and method == "post":
        body = {**body, "slug": "by-other"}
    other = callers["other"](client, method, path, body)
    assert other.status_code == other_status, other.content
    if other_status == 200 and path in ("/jobs", "/batches"):
        assert other.json()["results"] == []  # never another user's jobs or batches
    if path == "/stats":
        assert other.json()["total"]["runs"] == 0  # never another user's figures
    for name in ("owner", "owner_token"):
        if path == "/templates" and method == "post":
            body = {**body, "slug": f"by-{name}"}
        response = callers[name](client, method, path, body)
        if method == "delete" and path == "/templates/mine" and name == "owner_token":
            assert response.status_code == 404, response.content  # the owner's own call deleted it
            continue
        assert response.status_code in (owner_status, 200 if owner_status == 202 else owner_status), (
            response.content
        )


def test_public_template_is_readable_but_not_writable_by_others(client: Client, callers, owner: User) -> None:
    template = Template.objects.create(slug="pub", name="Pub", owner=owner, visibility=Visibility.PUBLIC)
    template.create_version(body="Hi")
    assert callers["other"](client, "get", "/templates/pub").status_code == 200
    assert_error(
        callers["other"](client, "patch", "/templates/pub", {"name": "Mine now"}), 403, "permission_denied"
    )
    assert_error(callers["other"](client, "delete", "/templates/pub"), 403, "permission_denied")


# --- Templates ----------------------------------------------------------------


def test_create_template_with_schema_and_read_it_back(client: Client, callers) -> None:
    body = {
        "slug": "tagline",
        "name": "Tagline",
        "visibility": "signed_in",
        "system_prompt": "Be brief.",
        "body": "A tagline for {{ product }}.",
        "parameters": [{"name": "product", "type": "string", "max_length": 40}],
        "model_settings": {
            "provider": "offline",
            "model": "offline-echo",
            "temperature": "0.3",
            "max_tokens": 100,
        },
    }
    created = callers["owner"](client, "post", "/templates", body)
    assert created.status_code == 201, created.content
    data = callers["owner"](client, "get", "/templates/tagline").json()
    assert data["parameters"] == body["parameters"] and data["version"] == 1
    assert data["model_settings"] == {
        "provider": "offline",
        "model": "offline-echo",
        "temperature": "0.30",
        "max_tokens": 100,
        "allowed_models": [],
    }
    schema = callers["owner"](client, "get", "/templates/tagline/schema").json()
    assert schema["properties"]["product"]["maxLength"] == 40


def test_patch_of_content_creates_a_version_and_of_name_does_not(
    client: Client, callers, private_template
) -> None:
    callers["owner"](client, "patch", "/templates/mine", {"name": "Renamed"})
    assert private_template.versions.count() == 1
    response = callers["owner"](client, "patch", "/templates/mine", {"body": "Now {{ topic }} x{{ count }}."})
    assert response.status_code == 200 and response.json()["version"] == 2
    versions = callers["owner"](client, "get", "/templates/mine/versions").json()
    assert [v["number"] for v in versions] == [2, 1] and versions[0]["published"]


def test_schema_errors_name_the_parameter_and_change_nothing(
    client: Client, callers, private_template
) -> None:
    response = callers["owner"](
        client, "patch", "/templates/mine", {"parameters": [{"name": "a", "type": "nope"}]}
    )
    error = assert_error(response, 400, "validation_error")
    assert "unknown type" in error["details"]["parameters"][0]
    assert private_template.versions.count() == 1
    response = callers["owner"](
        client, "post", "/templates", {"slug": "bad", "name": "Bad", "body": "{{ missing }}"}
    )
    assert "missing" in assert_error(response, 400, "validation_error")["details"]["body"][0]
    assert not Template.objects.filter(slug="bad").exists()  # no half-written template


def test_duplicate_slug_is_a_conflict(client: Client, callers, private_template) -> None:
    assert_error(
        callers["other"](client, "post", "/templates", {"slug": "mine", "name": "X", "body": "x"}),
        409,
        "conflict",
    )


def test_unknown_fields_are_refused(client: Client, callers) -> None:
    error = assert_error(
        callers["owner"](
            client, "post", "/templates", {"slug": "s", "name": "S", "body": "b", "colour": "red"}
        ),
        400,
        "validation_error",
    )
    assert "colour" in error["details"]


# --- Generation ----------------------------------------------------------------


def test_generate_validates_inputs_with_the_forms_own_rules(
    client: Client, callers, private_template
) -> None:
    error = assert_error(
        callers["owner"](client, "post", "/templates/mine/generate", {"inputs": {"count": 9, "extra": 1}}),
        400,
        "validation_error",
    )
    assert error["details"]["inputs"]["topic"] == ["This field is required."]
    assert "5" in error["details"]["inputs"]["count"][0]
    assert error["details"]["inputs"]["extra"] == ["Unknown parameter."]
    assert Job.objects.count() == 0


def test_generate_errors_follow_accept_language(client: Client, callers, private_template) -> None:
    caller = Caller("pt", {**callers["owner"].headers, "Accept-Language": "pt-BR"})
    error = assert_error(
        caller(client, "post", "/templates/mine/generate", {"inputs": {}}), 400, "validation_error"
    )
    assert error["details"]["inputs"]["topic"] == ["Este campo é obrigatório."]


def test_generate_returns_202_with_links_and_idempotency(client: Client, callers, private_template) -> None:
    caller = Caller("idem", {**callers["owner"].headers, "Idempotency-Key": "run-42"})
    first = caller(client, "post", "/templates/mine/generate", {"inputs": {"topic": "rain", "count": 2}})
    assert first.status_code == 202
    job = first.json()
    assert job["status"] == "queued" and job["links"]["events"] == f"{API}/jobs/{job['id']}/events"
    again = caller(client, "post", "/templates/mine/generate", {"inputs": {"topic": "other", "count": 1}})
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    assert Job.objects.count() == 1


def test_generate_with_an_unconfigured_provider_is_refused(
    client: Client, callers, private_template, monkeypatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    private_template.save_content({"allowed_models": ["openai/gpt-test-1"]}, author=None, publish=True)
    ModelPrice.objects.create(
        provider="openai", model="gpt-test-1", input_per_million=Decimal(1), output_per_million=Decimal(2)
    )
    response = callers["owner"](
        client,
        "post",
        "/templates/mine/generate",
        {"inputs": {"topic": "x", "count": 1}, "provider": "openai", "model": "gpt-test-1"},
    )
    assert_error(response, 503, "provider_unavailable")


# --- Jobs ------------------------------------------------------------------------


def test_jobs_list_filters_selects_fields_and_paginates_by_cursor(
    client: Client, callers, owner_job, private_template
) -> None:
    Job.objects.filter(pk=owner_job.pk).update(status=JobStatus.SUCCEEDED)
    from jobs.services import submit_generation

    for n in range(3):
        submit_generation(
            private_template.published_version, {"topic": f"t{n}", "count": 1}, owner=owner_job.owner
        )
    page = callers["owner"](client, "get", "/jobs?page_size=2&fields=id,status").json()
    assert len(page["results"]) == 2 and set(page["results"][0]) == {"id", "status"}
    assert page["next"] and "cursor=" in page["next"]
    done = callers["owner"](client, "get", "/jobs?status=succeeded").json()["results"]
    assert [j["id"] for j in done] == [str(owner_job.pk)]
    assert callers["owner"](client, "get", "/jobs?template=nope").json()["results"] == []
    assert_error(callers["owner"](client, "get", "/jobs?status=weird"), 400, "validation_error")
    assert_error(callers["owner"](client, "get", "/jobs?created_after=yesterday"), 400, "validation_error")
    # Found by schemathesis: a far-off offset the database can't store was a 500.
    odd = callers["owner"](client, "get", "/jobs?created_after=8521-10-07T16%3A03%3A43%2B20%3A31")
    assert odd.status_code == 200 and odd.json()["results"] == []
    # Found by schemathesis: a NUL byte in the template filter reached PostgreSQL, a 500.
    nul = callers["owner"](client, "get", "/jobs?template=a%00b")
    assert_error(nul, 400, "validation_error")
    assert "template" in nul.json()["error"]["details"]


def test_cancel_a_queued_job(client: Client, callers, owner_job) -> None:
    response = callers["owner"](client, "post", f"/jobs/{owner_job.pk}/cancel")
    assert response.json()["status"] == "cancelled"


# --- Auth --------------------------------------------------------------------------


def test_register_confirm_then_token_then_me(client: Client, mailoutbox) -> None:
    created = client.post(
        f"{API}/auth/register",
        data={"email": "Script@Example.com"},
        content_type="application/json",
    )
    assert created.status_code == 202 and set(created.json()) == {"detail"}
    (mail,) = mailoutbox
    assert mail.to == ["script@example.com"]
    link = next(line for line in mail.body.splitlines() if "/accounts/confirm/" in line)
    # The password is chosen in a browser, on the page the link opens.
    chosen = {"password1": "a long passphrase 42", "password2": "a long passphrase 42"}
    assert Client().post(link.strip(), chosen).status_code == 302
    tokens = client.post(
        f"{API}/auth/token", data={"email": "script@example.com", "password": "a long passphrase 42"},
        content_type="application/json",
    ).json()  # fmt: skip
    me = client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {tokens['access']}"})
    assert me.json()["email"] == "script@example.com" and me.json()["plan"] == "free"


def test_a_password_is_refused_and_a_taken_address_answers_as_a_new_one(client: Client, owner) -> None:
    with_password = client.post(
        f"{API}/auth/register", data={"email": "a@b.co", "password": "123"}, content_type="application/json"
    )
    details = assert_error(with_password, 400, "validation_error")["details"]
    assert "chosen on the page that the link in the e-mail opens" in str(details["password"])
    answers = [
        client.post(f"{API}/auth/register", data={"email": email}, content_type="application/json")
        for email in (owner.email, "brand-new@example.com")
    ]  # fmt: skip
    assert [a.status_code for a in answers] == [202, 202] and answers[0].json() == answers[1].json()


def test_refresh_rotates_and_a_reused_refresh_token_is_refused(client: Client, owner) -> None:
    tokens = client.post(
        f"{API}/auth/token", data={"email": owner.email, "password": "correct horse battery"},
        content_type="application/json",
    ).json()  # fmt: skip
    rotated = client.post(
        f"{API}/auth/token/refresh", data={"refresh": tokens["refresh"]}, content_type="application/json"
    )
    assert rotated.status_code == 200 and rotated.json()["refresh"] != tokens["refresh"]
    reused = client.post(
        f"{API}/auth/token/refresh", data={"refresh": tokens["refresh"]}, content_type="application/json"
    )
    assert_error(reused, 401, "not_authenticated")


def test_wrong_password_is_not_authenticated(client: Client, owner) -> None:
    response = client.post(
        f"{API}/auth/token", data={"email": owner.email, "password": "wrong"}, content_type="application/json"
    )
    assert_error(response, 401, "not_authenticated")


def test_personal_token_is_shown_once_stored_hashed_and_revocable(client: Client, callers, owner) -> None:
    created = callers["owner"](client, "post", "/auth/tokens", {"name": "nightly", "expires_at": None})
    raw = created.json()["token"]
    assert raw.startswith("pl_")
    token = PersonalToken.objects.get(pk=created.json()["id"])
    assert raw not in (token.key_hash, token.prefix) and token.key_hash != raw
    listed = callers["owner"](client, "get", "/auth/tokens").json()
    assert all(item["token"] is None for item in listed)
    use = Caller("new token", {"Authorization": f"Bearer {raw}"})
    assert use(client, "get", "/auth/me").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert callers["owner"](client, "delete", f"/auth/tokens/{token.pk}").status_code == 204
    assert_error(use(client, "get", "/auth/me"), 401, "not_authenticated")


def test_expired_personal_token_is_refused(client: Client, owner) -> None:
    _token, raw = PersonalToken.issue(owner, "short", expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(
        Caller("x", {"Authorization": f"Bearer {raw}"})(client, "get", "/auth/me"), 401, "not_authenticated"
    )


# --- Errors and limits ---------------------------------------------------------------


def test_malformed_json_wrong_type_and_oversized_bodies_get_clear_4xx(
    client: Client, callers, settings
) -> None:
    headers = callers["owner"].headers
    bad_json = client.post(
        f"{API}/templates", data="{not json", content_type="application/json", headers=headers
    )
    assert_error(bad_json, 400, "validation_error")
    form = client.post(
        f"{API}/templates", data="a=b", content_type="application/x-www-form-urlencoded", headers=headers
    )
    assert_error(form, 415, "validation_error")
    big = "x" * (settings.API_MAX_BODY_BYTES + 1)
    huge = client.post(
        f"{API}/templates", data=json.dumps({"body": big}), content_type="application/json", headers=headers
    )
    assert_error(huge, 413, "validation_error")
    assert not Template.objects.exists()


def test_unknown_api_url_is_a_json_404(client: Client) -> None:
    assert_error(client.get(f"{API}/nothing-here"), 404, "not_found")


def test_rate_limit_headers_and_429_by_plan(client: Client, callers, owner, settings) -> None:
    from promptlab import ratelimits

    ok = callers["owner"](client, "get", "/auth/me")
    assert ok["X-RateLimit-Limit"] == "60" and int(ok["X-RateLimit-Remaining"]) <= 59
    assert int(ok["X-RateLimit-Reset"]) > 0
    owner.plan = "starter"
    owner.save()
    assert callers["owner"](client, "get", "/auth/me")["X-RateLimit-Limit"] == "300"
    owner.plan = "free"
    owner.save()
    monkey_rates = {"free": ("3/m", "1000/h")}
    original = ratelimits.PLAN_RATES
    ratelimits.PLAN_RATES = {**original, **monkey_rates}
    try:
        statuses = [callers["owner"](client, "get", "/auth/me").status_code for _ in range(5)]
    finally:
        ratelimits.PLAN_RATES = original
    assert statuses[-1] == 429
    limited = callers["owner"]
    assert limited  # the envelope and headers of a 429:
    ratelimits.PLAN_RATES = {**original, **monkey_rates}
    try:
        response = callers["owner"](client, "get", "/auth/me")
    finally:
        ratelimits.PLAN_RATES = original
    assert_error(response, 429, "rate_limited")
    assert response["X-RateLimit-Remaining"] == "0" and int(response["Retry-After"]) >= 1


def test_openapi_document_and_docs_are_served(client: Client) -> None:
    schema = client.get("/api/schema/", headers={"Accept": "application/json"})
    assert schema.status_code == 200
    document = schema.json() if schema["Content-Type"].startswith("application/json") else None
    if document is None:
        import yaml

        document = yaml.safe_load(schema.content)
    paths = document["paths"]
    for path in (
        "/api/v1/templates/{slug}/generate",
        "/api/v1/jobs",
        "/api/v1/jobs/{id}/events",
        "/api/v1/auth/token",
    ):
        assert path in paths, sorted(paths)
    # Both kinds of bearer token are described, and every operation says which it takes.
    schemes = document["components"]["securitySchemes"]
    assert {"jwtAuth", "personalToken"} <= set(schemes)
    assert {"personalToken": []} in paths["/api/v1/jobs"]["get"]["security"]
    # A list item holds what ?fields= selects, output included, so no field is required.
    item = document["components"]["schemas"]["JobListItem"]
    assert "output" in item["properties"] and "required" not in item
    # Every path parameter and JSON body has an example.
    for path, item in paths.items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                assert parameter["in"] != "path" or "example" in parameter, (method, path, parameter)
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            assert body is None or "example" in body, (method, path)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_metrics_are_for_loopback_or_a_token(client: Client, settings, owner_job) -> None:
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.1").status_code == 403
    local = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert local.status_code == 200
    assert 'promptlab_jobs_active{model="offline-echo",provider="offline",status="queued"} 1.0' in (
        local.content.decode()
    )
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert (
        client.get(
            "/metrics", headers={"Authorization": "Bearer s3cret"}, REMOTE_ADDR="203.0.113.1"
        ).status_code
        == 200
    )


def test_tokens_never_appear_in_logs(client: Client, owner, caplog) -> None:
    _token, raw = PersonalToken.issue(owner, "secret")
    access = jwt_for(owner)
    with caplog.at_level("DEBUG"):
        client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {raw}"})
        client.get(f"{API}/templates/missing", headers={"Authorization": f"Bearer {access}"})
        client.get(
            f"{API}/auth/me", headers={"Authorization": f"Bearer {raw}x"}
        )  # a 401, logged as a warning
        client.post(
            f"{API}/auth/token", data={"email": owner.email, "password": "correct horse battery"},
            content_type="application/json",
        )  # fmt: skip
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # the requests were logged…
    for secret in (raw, access, "correct horse battery"):
        assert secret not in logged  # …without their secrets


def test_session_auth_needs_csrf_for_writes(owner) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.get(f"{API}/auth/me").status_code == 200
    refused = browser.post(f"{API}/auth/tokens", data={"name": "x"}, content_type="application/json")
    assert_error(refused, 403, "permission_denied")
    browser.get("/")  # sets the CSRF cookie, as the site's pages do
    token = browser.cookies["csrftoken"].value
    allowed = browser.post(
        f"{API}/auth/tokens",
        data={"name": "x"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert allowed.status_code == 201


def test_job_list_items_are_the_detail_without_output_unless_asked(
    client: Client, callers, owner_job, private_template
) -> None:
    from decimal import Decimal

    Job.objects.filter(pk=owner_job.pk).update(
        status=JobStatus.FAILED, error_code="rate_limited", error_message="slow down", cost=Decimal("0.0012"),
        started_at=timezone.now(), output="partial text",
    )  # fmt: skip
    detail = callers["owner"](client, "get", f"/jobs/{owner_job.pk}").json()
    item = callers["owner"](client, "get", "/jobs").json()["results"][0]
    assert "output" not in item and "steps" not in item  # the largest parts, each a read of its own
    assert item == {key: value for key, value in detail.items() if key not in ("output", "steps")}
    everything = ",".join(detail)
    full = callers["owner"](client, "get", f"/jobs?fields={everything}").json()["results"][0]
    assert full == detail and full["output"] == "partial text"
    only_output = callers["owner"](client, "get", "/jobs?fields=id,output").json()["results"][0]
    assert only_output == {"id": detail["id"], "output": "partial text"}


@pytest.mark.needs_redis  # counts queries: on the embedded defaults the cache itself is the database
def test_job_list_is_two_queries_whatever_the_page_size(
    client: Client, callers, owner, private_template
) -> None:
    """Which workspaces share their jobs with the caller (none here), then the page, read
    from the owner's index in order."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from jobs.services import submit_generation

    for n in range(12):
        submit_generation(private_template.published_version, {"topic": f"t{n}", "count": 1}, owner=owner)
    callers["owner_token"](client, "get", "/jobs")  # the caller is cached from here on
    with CaptureQueriesContext(connection) as queries:
        page = callers["owner_token"](client, "get", "/jobs?page_size=10").json()
    assert len(page["results"]) == 10
    assert len(queries) == 2, [q["sql"] for q in queries]
    assert "UNION" not in queries[1]["sql"]


@pytest.mark.needs_redis  # counts queries: on the embedded defaults the cache itself is the database
def test_a_template_read_is_one_query(client: Client, callers, private_template) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    callers["owner_token"](client, "get", "/templates/mine")  # the caller is cached from here on
    with CaptureQueriesContext(connection) as queries:
        assert callers["owner_token"](client, "get", "/templates/mine").status_code == 200
    assert len(queries) == 1, [q["sql"] for q in queries]


def test_a_template_read_is_never_stale(client: Client, callers, private_template) -> None:
    """A read follows a change to anything it is made from, whoever made it and however."""
    assert callers["owner"](client, "get", "/templates/mine").json()["description"] == ""
    Template.objects.filter(pk=private_template.pk).update(description="Changed behind the API's back")
    assert callers["owner"](client, "get", "/templates/mine").json()["description"] == (
        "Changed behind the API's back"
    )
    private_template.refresh_from_db()
    private_template.create_version(body="Now {{ topic }} only.", parameters=SIMPLE_SCHEMA[:1])
    read = callers["owner"](client, "get", "/templates/mine").json()
    assert read["body"] == "Now {{ topic }} only." and read["version"] == 2
    owner = private_template.owner
    owner.email = "renamed@example.com"
    owner.save()
    assert callers["owner"](client, "get", "/templates/mine").json()["owner"] == "renamed@example.com"


@pytest.mark.parametrize(
    ("raw_parameters", "message"),
    [
        ('[{"name": "n", "type": "number", "min": 1e400}]', "valid JSON"),  # DRF refuses inf
        ('[{"name": "n", "type": "number", "min": 1e308, "step": 1e-308}]', "“min” is too large"),
        ('[{"name": "n", "type": "json", "schema": {"$ref": "#/nope"}}]', "which it doesn't contain"),
    ],
)
def test_parameters_that_would_fail_later_are_refused_when_authored(
    client: Client, owner, raw_parameters: str, message: str
) -> None:
    body = f'{{"slug": "s", "name": "S", "body": "{{{{ n }}}}", "parameters": {raw_parameters}}}'
    response = client.post(
        f"{API}/templates",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {jwt_for(owner)}"},
    )
    error = assert_error(response, 400, "validation_error")
    assert message in error["details"]["parameters"][0]
    assert not Template.objects.filter(slug="s").exists()


def test_only_managers_see_drafts_and_history_through_the_api(client: Client, callers, owner) -> None:
    template = Template.objects.create(slug="open", name="Open", owner=owner, visibility=Visibility.PUBLIC)
    template.create_version(
        body="Published {{ topic }} {{ count }}.",
        parameters=SIMPLE_SCHEMA,
        author=owner,
        theme={"text": "#222222"},
    )
    template.create_version(
        body="Secret draft {{ topic }} {{ count }}.", parameters=SIMPLE_SCHEMA, publish=False
    )
    owner_view = callers["owner"](client, "get", "/templates/open/versions").json()
    assert [v["number"] for v in owner_view] == [2, 1]
    for caller in ("other", "anonymous"):
        response = callers[caller](client, "get", "/templates/open/versions")
        if response.status_code == 200:
            assert [v["number"] for v in response.json()] == [1], caller
            assert "Secret draft" not in response.content.decode()
        else:
            assert response.status_code in (401, 403), caller
    # The site's pages follow the same rule.
    assert client.get("/t/open/v2/theme.css").status_code == 404
    assert client.get("/t/open/v1/theme.css").status_code == 200


def test_a_serializer_built_once_gives_each_instance_fields_of_its_own() -> None:
    # JobSerializer builds its fields from the model once per class (FieldsBuiltOnceMixin):
    # a field dropped from one instance (as ?fields= does) must stay in the next.
    from jobs.api.serializers import JobListItemSerializer, JobSerializer

    first = JobSerializer()
    first.fields.pop("output")
    assert "output" in JobSerializer().fields
    assert first.fields["status"] is not JobSerializer().fields["status"]
    assert "output" in JobListItemSerializer().fields  # a subclass builds its own
