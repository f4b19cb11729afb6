"""The admin as staff see it: axe-core finds no violation on the pages our models and
templates shape, versions are read-only (no Save), and the schema reads as YAML."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jobs.services import submit_generation
from templates_app.models import Template

from .conftest import assert_accessible

ADMIN_PAGES = (
    "/admin/",
    "/admin/templates_app/template/",
    "/admin/templates_app/template/{template}/change/",
    "/admin/templates_app/templateversion/",
    "/admin/templates_app/templateversion/{version}/change/",
    "/admin/jobs/job/",
    "/admin/jobs/job/{job}/change/",
)


@pytest.fixture
def admin_objects(make_template, staff) -> dict[str, Any]:
    template = make_template(slug="haiku", owner=staff)
    template.set_tag_names(["Poetry"])
    job = submit_generation(template.published_version, {"topic": "rain", "count": 2}, owner=staff)
    return {"template": template.pk, "version": template.published_version.pk, "job": job.pk}


@pytest.mark.django_db
def test_a_version_is_read_only_with_its_schema_as_yaml(client: Client, staff, admin_objects) -> None:
    client.force_login(staff)
    page = client.get(f"/admin/templates_app/templateversion/{admin_objects['version']}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert '<pre class="yaml">- name: topic\n  type: string' in html
    # A POST changes nothing either.
    version = Template.objects.get(pk=admin_objects["template"]).published_version
    client.post(f"/admin/templates_app/templateversion/{version.pk}/change/", {"body": "changed"})
    version.refresh_from_db()
    assert version.body != "changed"


@pytest.mark.django_db
def test_the_admin_still_adds_a_version(client: Client, staff, admin_objects) -> None:
    client.force_login(staff)
    page = client.get("/admin/templates_app/templateversion/add/").content.decode()
    assert 'name="_save"' in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_the_admin_pages_have_no_axe_violations(
    signed_in_page, live_server_url: str, staff, admin_objects, locale: str
) -> None:
    page = signed_in_page(staff, locale)
    for path in ADMIN_PAGES:
        page.goto(live_server_url + path.format(**admin_objects))
        assert page.locator("#content").count() == 1, path
        assert_accessible(page)
