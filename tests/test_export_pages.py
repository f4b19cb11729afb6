"""Export on the site: the history and "My templates" pages offer the published version in
each format, with what each format can't hold; the download follows the API's access rules."""

from __future__ import annotations

import json

import pytest
import yaml
from django.test import Client
from django.utils.html import escape

from templates_app.formats import FORMATS
from templates_app.formats.service import export_template, import_template
from templates_app.models import Template, Visibility

from .conftest import assert_accessible
from .test_formats_api import DATA

pytestmark = pytest.mark.django_db


@pytest.fixture
def product(owner) -> Template:
    text = (DATA / "promptlab" / "product-description.md").read_text()
    template, _warnings = import_template(text, owner=owner, format_name="promptlab")
    return template


def test_the_owner_downloads_each_format_and_it_imports_again(client: Client, owner, product) -> None:
    client.force_login(owner)
    for name, module in FORMATS.items():
        response = client.get(f"/t/{product.slug}/export/", {"format": name})
        assert response.status_code == 200, (name, response.content[:300])
        filename = f"{product.slug}{module.EXTENSIONS[0]}"
        assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
        assert response["Content-Type"] == module.CONTENT_TYPE
        warnings = json.loads(response["X-PromptLab-Warnings"])
        content = response.content.decode()
        assert bool(warnings) == (name != "promptlab")
        for warning in warnings:  # in the file's header comments too
            assert " ".join(warning.splitlines()) in content
        assert yaml.safe_load(content.split("---\n")[1])
        again, _warnings = import_template(content, owner=owner, filename=filename, slug=f"again-{name}")
        assert [p["name"] for p in again.published_version.parameters] == [
            p["name"] for p in product.published_version.parameters
        ]


def test_export_access_owner_other_user_anonymous(
    client: Client, owner, other_user, staff, make_template
) -> None:
    make_template(slug="mine", owner=owner, visibility=Visibility.PRIVATE)
    make_template(slug="shared", owner=owner, visibility=Visibility.SIGNED_IN)
    client.force_login(owner)
    assert client.get("/t/mine/export/").status_code == 200
    client.force_login(other_user)
    assert client.get("/t/mine/export/").status_code == 404  # as if it did not exist
    assert client.get("/t/shared/export/").status_code == 200  # as the API: visible to them
    client.force_login(staff)
    assert client.get("/t/mine/export/").status_code == 200
    client.logout()
    response = client.get("/t/mine/export/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_unknown_format_is_a_404_and_the_default_is_promptlab(
    client: Client, owner, make_template
) -> None:
    make_template(slug="mine", owner=owner)
    client.force_login(owner)
    assert client.get("/t/mine/export/", {"format": "docx"}).status_code == 404
    response = client.get("/t/mine/export/")
    assert response.content.decode().startswith("---\nslug: mine\n")
    assert "no-store" in response["Cache-Control"]


def test_a_template_without_a_published_version_has_nothing_to_export(client: Client, owner) -> None:
    Template.objects.create(slug="empty", name="Empty", owner=owner)
    client.force_login(owner)
    response = client.get("/t/empty/export/", follow=True)
    assert "no published version" in response.content.decode()
    history = client.get("/t/empty/history/").content.decode()
    assert "/t/empty/export/" not in history


def test_history_offers_each_format_with_its_warnings(client: Client, owner, product) -> None:
    client.force_login(owner)
    html = client.get(f"/t/{product.slug}/history/").content.decode()
    for name, module in FORMATS.items():
        assert f'href="/t/{product.slug}/export/?format={name}"' in html and module.LABEL in html
    warnings = export_template(product, "prompty").warnings
    assert warnings
    for warning in warnings:
        assert escape(warning) in html
    pt = client.get(f"/t/{product.slug}/history/", headers={"Accept-Language": "pt-BR"}).content.decode()
    assert "Baixar" in pt


def test_my_templates_links_each_format(client: Client, owner, product, make_template) -> None:
    Template.objects.create(slug="unpublished", name="Unpublished", owner=owner)
    client.force_login(owner)
    html = client.get("/templates/mine/").content.decode()
    for name in FORMATS:
        assert f'href="/t/{product.slug}/export/?format={name}"' in html
    assert "/t/unpublished/export/" not in html
    assert f'href="/t/{product.slug}/history/#exports-heading"' in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_export_offers_pass_axe_and_download(
    signed_in_page, live_server_url: str, owner, locale: str
) -> None:
    text = (DATA / "promptlab" / "product-description.md").read_text()
    template, _warnings = import_template(text, owner=owner, format_name="promptlab")
    page = signed_in_page(owner, locale, accept_downloads=True)
    page.goto(f"{live_server_url}/templates/mine/")
    assert_accessible(page)
    page.goto(f"{live_server_url}/t/{template.slug}/history/")
    assert_accessible(page)
    with page.expect_download() as download:
        page.locator("[data-export=prompty] a").click()
    assert download.value.suggested_filename == f"{template.slug}.prompty"
