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
