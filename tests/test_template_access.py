"""Who manages a template: one rule (``Template.is_managed_by``) for the site's pages and
the API alike. Four callers each time: the owner, another signed-in user, an anonymous
visitor and staff."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from templates_app.models import Template, Visibility

from .test_api import jwt_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(make_template, owner) -> Template:
    """A template every signed-in user sees, so only the rule tells them apart."""
    return make_template(slug="shared", owner=owner, visibility=Visibility.SIGNED_IN)


def api(client: Client, user: User | None, method: str, path: str, body: Any = None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {jwt_for(user)}"} if user is not None else {}
    return getattr(client, method)(f"/api/v1{path}", body, content_type="application/json", **headers)


def test_the_api_lets_the_owner_and_staff_change_a_template(
    client: Client, shared: Template, owner, other_user, staff
) -> None:
    assert api(client, None, "patch", "/templates/shared", {"name": "Anon"}).status_code == 401
    assert api(client, other_user, "patch", "/templates/shared", {"name": "Other"}).status_code == 403
    assert api(client, owner, "patch", "/templates/shared", {"name": "By owner"}).status_code == 200
    response = api(client, staff, "patch", "/templates/shared", {"body": "Staff {{ topic }} {{ count }}"})
    assert response.status_code == 200, response.content
    shared.refresh_from_db()
    assert shared.name == "By owner" and shared.published_version.created_by == staff


def test_the_api_lets_the_owner_and_staff_delete_a_template(
    client: Client, make_template, owner, other_user, staff
) -> None:
    for remover in (owner, staff):
        template = make_template(slug=f"gone-{remover.pk}", owner=owner, visibility=Visibility.SIGNED_IN)
        path = f"/templates/{template.slug}"
        assert api(client, None, "delete", path).status_code == 401
        assert api(client, other_user, "delete", path).status_code == 403
        assert api(client, remover, "delete", path).status_code == 204
        assert not Template.objects.filter(pk=template.pk).exists()


def test_anyone_who_sees_a_template_may_read_and_run_it(client: Client, shared: Template, other_user) -> None:
    assert api(client, other_user, "get", "/templates/shared").status_code == 200
    assert api(client, other_user, "get", "/templates/shared/versions").status_code == 200
    generate = api(
        client, other_user, "post", "/templates/shared/generate", {"inputs": {"topic": "a", "count": 2}}
    )
    assert generate.status_code == 202, generate.content


def test_the_form_page_links_the_editor_for_the_owner_and_staff_only(
    client: Client, shared: Template, owner, other_user, staff
) -> None:
    edit_link = 'href="/t/shared/edit/"'
    shared.visibility = Visibility.PUBLIC
    shared.save()
    assert edit_link not in client.get("/t/shared/").content.decode()
    for user, sees in ((other_user, False), (owner, True), (staff, True)):
        client.force_login(user)
        assert (edit_link in client.get("/t/shared/").content.decode()) is sees, user
        assert client.get("/t/shared/edit/").status_code == (200 if sees else 404)
        assert client.get("/t/shared/history/").status_code == (200 if sees else 404)


def test_a_token_limited_to_some_templates_reaches_only_those_on_every_api_road(
    client: Client, make_template, owner, other_user
) -> None:
    """One rule (``TemplateQuerySet.reachable_with``): reads, changes, runs and jobs alike;
    an unlimited token of the same owner, and the owner's JWT, reach both."""
    from accounts.models import PersonalToken

    own = make_template(slug="listed", owner=owner, visibility=Visibility.PRIVATE)
    make_template(slug="unlisted", owner=owner, visibility=Visibility.PRIVATE)
    _limited, limited = PersonalToken.issue(owner, "listed only", templates=[own])
    _all, unlimited = PersonalToken.issue(owner, "all")

    def call(raw: str, method: str, path: str, body: Any = None) -> Any:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        return getattr(client, method)(f"/api/v1{path}", body, content_type="application/json", **headers)

    run = {"inputs": {"topic": "a", "count": 2}}
    roads = [
        ("get", "/templates/{slug}", None, 200),
        ("get", "/templates/{slug}/versions", None, 200),
        ("get", "/templates/{slug}/schema", None, 200),
        ("get", "/templates/{slug}/export", None, 200),
        ("post", "/templates/{slug}/generate", run, 202),
        ("patch", "/templates/{slug}", {"name": "Renamed"}, 200),
    ]
    for method, path, body, allowed in roads:
        assert call(limited, method, path.format(slug="unlisted"), body).status_code == 404, path
        assert call(limited, method, path.format(slug="listed"), body).status_code == allowed, path
        assert call(unlimited, method, path.format(slug="unlisted"), body).status_code == allowed, path
    assert call(limited, "delete", "/templates/unlisted").status_code == 404
    assert [t["slug"] for t in call(limited, "get", "/templates").json()] == ["listed"]
    assert {t["slug"] for t in call(unlimited, "get", "/templates").json()} == {"listed", "unlisted"}
    jobs = call(limited, "get", "/jobs").json()["results"]
    assert {job["template"] for job in jobs} == {"listed"}
    assert len(call(unlimited, "get", "/jobs").json()["results"]) == 2
    # Another user's token never reaches the owner's private templates, limited or not.
    _other, other = PersonalToken.issue(other_user, "other")
    assert call(other, "get", "/templates/listed").status_code == 404


@pytest.mark.needs_redis  # the event stream exists only with Redis
def test_a_token_limited_to_some_templates_cannot_follow_another_templates_job_stream(
    client: Client, make_template, owner
) -> None:
    """The job's event stream holds the token's limit as the job reads do: a job of the
    owner's on a template the token does not reach is a 404 there too."""
    from accounts.models import PersonalToken
    from jobs.models import Job
    from jobs.services import submit_generation

    listed = make_template(slug="listed", owner=owner, visibility=Visibility.PRIVATE)
    unlisted = make_template(slug="unlisted", owner=owner, visibility=Visibility.PRIVATE)
    _limited, limited = PersonalToken.issue(owner, "listed only", templates=[listed])
    job = submit_generation(unlisted.published_version, {"topic": "a", "count": 2}, owner=owner)
    # No worker here: the job is not left running.
    Job.objects.filter(pk=job.pk).update(status="cancelled", active_key=None)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {limited}"}
    assert client.get(f"/api/v1/jobs/{job.pk}", **headers).status_code == 404
    response = client.get(f"/api/v1/jobs/{job.pk}/events", **headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
