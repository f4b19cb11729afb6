"""The template lists: search, tags, duplicate, delete (soft, confirmed) and restore; names
and descriptions per language. Three callers in each access test: the owner, another
signed-in user and an anonymous visitor."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jobs.models import Job
from templates_app.models import Template, TemplateVersion, Visibility

from .test_api import jwt_for

pytestmark = pytest.mark.django_db


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(client: Client, user: Any, method: str, path: str, body: Any = None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {jwt_for(user)}"} if user is not None else {}
    return getattr(client, method)(f"/api/v1{path}", body, content_type="application/json", **headers)


@pytest.fixture
def tagged(make_template, owner) -> Template:
    template = make_template(slug="meeting", owner=owner, visibility=Visibility.PUBLIC)
    template.description = "Turns notes into minutes"
    template.name_translations = {"pt-br": "Ata de reunião"}
    template.description_translations = {"pt-br": "Transforma notas em ata"}
    template.save()
    template.set_tag_names(["Work", "Writing"])
    make_template(slug="haiku", owner=owner, visibility=Visibility.PUBLIC)
    return template


def card_titles(response: Any) -> list[str]:
    return [template.slug for template in response.context["templates"]]


def test_search_finds_by_name_description_translation_and_tag(client: Client, tagged: Template) -> None:
    assert card_titles(client.get("/", {"q": "meeting"})) == ["meeting"]
    assert card_titles(client.get("/", {"q": "MINUTES"})) == ["meeting"]
    assert card_titles(client.get("/", {"q": "reunião"})) == ["meeting"]
    assert card_titles(client.get("/", {"q": "writ"})) == ["meeting"]
    assert card_titles(client.get("/", {"q": ""})) == ["haiku", "meeting"]
    response = client.get("/", {"q": "nothing like it"})
    assert card_titles(response) == [] and "No template matches the filter." in response.content.decode()


def test_the_tag_filter_shows_only_tagged_templates_and_links_each_tag(
    client: Client, tagged: Template
) -> None:
    response = client.get("/", {"tag": "work"})
    assert card_titles(response) == ["meeting"]
    assert 'href="/?tag=writing"' in response.content.decode()
    assert card_titles(client.get("/", {"tag": "not a slug!"})) == ["haiku", "meeting"]  # no 500, no filter


def test_search_never_shows_what_the_caller_may_not_see(
    client: Client, make_template, owner, other_user
) -> None:
    make_template(slug="secret-plan", owner=owner, visibility=Visibility.PRIVATE)
    assert card_titles(signed_in(owner).get("/", {"q": "secret"})) == ["secret-plan"]
    assert card_titles(signed_in(other_user).get("/", {"q": "secret"})) == []
    assert card_titles(client.get("/", {"q": "secret"})) == []
    assert api(client, other_user, "get", "/templates?q=secret").json() == []


def test_names_and_descriptions_follow_the_language_with_english_as_fallback(
    client: Client, tagged: Template
) -> None:
    english = client.get("/").content.decode()
    assert "Meeting" in english and "Turns notes into minutes" in english
    portuguese = client.get("/", headers={"accept-language": "pt-BR"}).content.decode()
    assert "Ata de reunião" in portuguese and "Transforma notas em ata" in portuguese
    assert "Haiku" in portuguese  # no translation: the English name
    form_page = client.get("/t/meeting/", headers={"accept-language": "pt-BR"}).content.decode()
    assert "Ata de reunião" in form_page


def test_the_api_reads_and_writes_translations_and_tags(client: Client, tagged: Template, owner) -> None:
    body = api(client, owner, "get", "/templates/meeting", None).json()
    assert body["name_translations"] == {"pt-br": "Ata de reunião"}
    assert body["localized_name"] == "Meeting" and body["tags"] == ["Work", "Writing"]
    response = client.get(
        "/api/v1/templates/meeting",
        HTTP_AUTHORIZATION=f"Bearer {jwt_for(owner)}",
        HTTP_ACCEPT_LANGUAGE="pt-BR",
    )
    assert response.json()["localized_name"] == "Ata de reunião"
    patched = api(
        client,
        owner,
        "patch",
        "/templates/meeting",
        {"tags": ["Email"], "name_translations": {"pt-BR": "Ata"}},
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["tags"] == ["Email"] and patched.json()["name_translations"] == {"pt-br": "Ata"}
    refused = api(client, owner, "patch", "/templates/meeting", {"name_translations": {"klingon": "x"}})
    assert refused.status_code == 400
    assert card_titles(client.get("/", {"tag": "email"})) == ["meeting"]


def test_the_editor_saves_tags_and_the_portuguese_name(owner, make_template) -> None:
    make_template(slug="mine", owner=owner, visibility=Visibility.PRIVATE)
    client = signed_in(owner)
    page = client.get("/t/mine/edit/").content.decode()
    assert 'name="meta-name_pt_br"' in page and 'name="meta-tag_names"' in page
    version = Template.objects.get(slug="mine").latest_version
    response = client.post(
        "/t/mine/edit/",
        {
            "meta-name": "Mine",
            "meta-description": "",
            "meta-name_pt_br": "Meu",
            "meta-description_pt_br": "Descrição",
            "meta-tag_names": "Email, support , email",
            "meta-visibility": "private",
            "editor-body": version.body,
            "editor-system_prompt": "",
            "editor-schema_format": "json",
            "editor-schema": '[{"name": "topic", "type": "string"}, {"name": "count", "type": "integer"}]',
            "editor-provider": "offline",
            "editor-model": "offline-echo",
            "editor-temperature": "0.7",
            "editor-max_tokens": "1024",
            "action": "draft",
        },
    )
    assert response.status_code == 302, response.context["form"].errors if response.context else ""
    template = Template.objects.get(slug="mine")
    assert template.name_translations == {"pt-br": "Meu"}
    assert template.description_translations == {"pt-br": "Descrição"}
    assert [tag.name for tag in template.tags.all()] == ["Email", "support"]


# --- Duplicate -------------------------------------------------------------------


def test_a_duplicate_is_a_private_unpublished_copy_owned_by_who_asked(
    client: Client, tagged: Template, other_user
) -> None:
    response = signed_in(other_user).post("/t/meeting/duplicate/")
    copy = Template.objects.get(owner=other_user)
    assert response.status_code == 302 and response["Location"] == f"/t/{copy.slug}/edit/"
    assert copy.slug == "meeting-copy" and copy.name == "Meeting (copy)"
    assert copy.name_translations == {"pt-br": "Ata de reunião (cópia)"}
    assert copy.visibility == Visibility.PRIVATE and copy.published_version is None
    assert copy.draft_version is not None and copy.draft_version.body == tagged.published_version.body
    assert sorted(tag.slug for tag in copy.tags.all()) == ["work", "writing"]
    signed_in(other_user).post("/t/meeting/duplicate/")
    assert Template.objects.filter(slug="meeting-copy-2", owner=other_user).exists()


def test_a_duplicate_by_another_user_copies_the_published_version_not_a_draft(
    tagged: Template, owner, other_user
) -> None:
    tagged.save_content({"body": "Draft {{ topic }} {{ count }}"}, author=owner, publish=False)
    signed_in(other_user).post("/t/meeting/duplicate/")
    assert Template.objects.get(owner=other_user).latest_version.body == tagged.published_version.body
    signed_in(owner).post("/t/meeting/duplicate/")
    assert Template.objects.filter(
        owner=owner, slug__startswith="meeting-copy"
    ).get().latest_version.body == ("Draft {{ topic }} {{ count }}")


def test_duplicate_needs_a_visible_template_a_post_and_a_signed_in_user(
    client: Client, make_template, owner, other_user
) -> None:
    make_template(slug="private", owner=owner, visibility=Visibility.PRIVATE)
    assert signed_in(other_user).post("/t/private/duplicate/").status_code == 404
    assert signed_in(owner).get("/t/private/duplicate/").status_code == 405
    anonymous = client.post("/t/private/duplicate/")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert Template.objects.count() == 1


# --- Delete and restore ------------------------------------------------------------


def test_delete_asks_first_then_hides_the_template_everywhere(
    client: Client, tagged: Template, owner
) -> None:
    owner_client = signed_in(owner)
    confirm = owner_client.get("/t/meeting/delete/")
    assert confirm.status_code == 200 and "Yes, delete it" in confirm.content.decode()
    assert Template.objects.filter(slug="meeting").exists()  # a GET deletes nothing
    response = owner_client.post("/t/meeting/delete/", follow=True)
    page = response.content.decode()
    assert "was deleted" in page and 'id="deleted-heading"' in page and "/t/meeting/restore/" in page
    assert card_titles(client.get("/", {"q": "meeting"})) == []
    assert client.get("/t/meeting/").status_code == 404
    assert owner_client.get("/t/meeting/edit/").status_code == 404
    assert owner_client.get("/t/meeting/history/").status_code == 404
    assert api(client, owner, "get", "/templates/meeting").status_code == 404
    assert not TemplateVersion.objects.visible_to(owner).filter(template__slug="meeting").exists()
    assert Template.all_objects.filter(slug="meeting", deleted_at__isnull=False).exists()


def test_undo_restores_the_template_as_it_was(client: Client, tagged: Template, owner) -> None:
    owner_client = signed_in(owner)
    owner_client.post("/t/meeting/delete/")
    response = owner_client.post("/t/meeting/restore/", follow=True)
    assert "was restored" in response.content.decode()
    assert client.get("/t/meeting/").status_code == 200
    assert Template.objects.get(slug="meeting").published_version == tagged.published_version


def test_only_managers_delete_or_restore(client: Client, tagged: Template, owner, other_user) -> None:
    other = signed_in(other_user)
    assert other.get("/t/meeting/delete/").status_code == 404
    assert other.post("/t/meeting/delete/").status_code == 404
    assert client.post("/t/meeting/delete/").status_code == 302  # to sign in
    assert Template.objects.filter(slug="meeting").exists()
    signed_in(owner).post("/t/meeting/delete/")
    assert other.post("/t/meeting/restore/").status_code == 404
    assert client.post("/t/meeting/restore/").status_code == 302
    assert not Template.objects.filter(slug="meeting").exists()
    assert "Meeting" not in other.get("/templates/mine/").content.decode()


def test_the_api_delete_is_soft_and_keeps_the_jobs(
    client: Client, tagged: Template, owner, other_user
) -> None:
    generate = api(
        client, owner, "post", "/templates/meeting/generate", {"inputs": {"topic": "a", "count": 2}}
    )
    assert generate.status_code in (200, 201, 202), generate.content
    assert api(client, other_user, "delete", "/templates/meeting").status_code == 403
    assert api(client, None, "delete", "/templates/meeting").status_code == 401
    assert api(client, owner, "delete", "/templates/meeting").status_code == 204
    assert api(client, owner, "get", "/templates/meeting").status_code == 404
    assert "meeting" not in [t["slug"] for t in api(client, owner, "get", "/templates").json()]
    assert Job.objects.filter(owner=owner).count() == 1
    assert signed_in(owner).get("/jobs/").status_code == 200  # the job list still names it
    # A deleted template's slug is still taken: a new one gets a conflict, not a 500.
    assert (
        api(client, owner, "post", "/templates", {"slug": "meeting", "name": "M", "body": "x"}).status_code
        == 409
    )


# --- In a browser ------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("locale", "words"),
    [
        (
            "en-US",
            {
                "search": "Search",
                "delete": "Yes, delete it",
                "restore": "Restore",
                "found": "1 template found",
            },
        ),
        (
            "pt-BR",
            {
                "search": "Buscar",
                "delete": "Sim, excluir",
                "restore": "Restaurar",
                "found": "1 template encontrado",
            },
        ),
    ],
)
def test_search_duplicate_delete_and_undo_by_keyboard(
    signed_in_page, live_server_url: str, make_template, owner, locale: str, words: dict[str, str]
) -> None:
    from .conftest import assert_accessible

    template = make_template(slug="meeting", owner=owner, visibility=Visibility.PUBLIC)
    template.set_tag_names(["Work"])
    make_template(slug="haiku", owner=owner, visibility=Visibility.PUBLIC)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/")
    assert_accessible(page)
    page.locator("input[name=q]").fill("meet")
    page.keyboard.press("Enter")
    page.wait_for_url("**/?q=meet*")
    assert page.get_by_role("status").filter(has_text=words["found"]).count() == 1
    assert_accessible(page)
    # Duplicate from the list: the copy opens in the editor.
    page.locator("form[action='/t/meeting/duplicate/'] button").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/t/meeting-copy/edit/")
    assert_accessible(page)
    # Delete: a confirmation page, then the list with the deleted one and its Restore button.
    page.goto(f"{live_server_url}/t/meeting/delete/")
    assert_accessible(page)
    page.get_by_role("button", name=words["delete"]).focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/templates/mine/*")
    assert_accessible(page)
    restore = page.locator("form[action='/t/meeting/restore/'] button")
    assert words["restore"] in restore.inner_text()
    restore.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/templates/mine/")
    assert Template.objects.filter(slug="meeting").exists()
    assert_accessible(page)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_the_job_list_filter_is_accessible(
    signed_in_page, live_server_url: str, make_template, owner, locale
) -> None:
    from jobs.services import submit_generation

    from .conftest import assert_accessible

    template = make_template(slug="meeting", owner=owner)
    submit_generation(template.published_version, {"topic": "budget", "count": 2}, owner=owner)
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/jobs/")
    assert_accessible(page)
    page.locator("select[name=template]").select_option("meeting")
    page.locator("input[name=q]").fill("budget")
    page.locator("input[name=q]").press("Enter")
    page.wait_for_url("**/jobs/?*q=budget*")
    assert page.locator("tbody tr").count() == 1
    assert_accessible(page)
    page.goto(f"{live_server_url}/jobs/?created_from=2026-12-09&created_to=2026-12-01")
    assert page.locator(".error-summary a[href='#id_created_to']").count() == 1
    assert_accessible(page)


def test_the_api_list_refuses_a_filter_it_cannot_run(client: Client, tagged: Template, owner) -> None:
    assert api(client, owner, "get", "/templates?q=a%00b").status_code == 400
    assert api(client, owner, "get", "/templates?tag=not%20a%20slug").status_code == 400
    # White space str.strip removes (U+001C is one) is no slug either: refused, not dropped.
    assert api(client, owner, "get", "/templates?tag=%1C").status_code == 400
    assert api(client, owner, "get", "/templates?tag=work%20").status_code == 400
    assert [t["slug"] for t in api(client, owner, "get", "/templates?tag=work").json()] == ["meeting"]
    assert api(client, owner, "get", "/templates?tag=work").json()[0]["tags"] == ["Work", "Writing"]
