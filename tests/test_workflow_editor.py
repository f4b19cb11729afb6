"""Workflows in the template editor (issue 15): the steps field and the result step, their
errors (each naming its step), the live preview of the order the steps run in, and the
version history's diff of the steps."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from templates_app.models import Template

from .editor_helpers import editor_post

pytestmark = pytest.mark.django_db

SCHEMA = "- name: topic\n  type: string\n- name: language\n  type: string\n  required: false\n"
STEPS = """\
- name: outline
  kind: transform
  body: "['Why ' ~ topic, 'How ' ~ topic]"
- name: sections
  needs: [outline]
  for_each: steps.outline.output
  parallel: 2
  body: "Write the section {{ item }} about {{ topic }}."
- name: summary
  needs: [outline]
  body: "Sum up {{ topic }}."
- name: article
  kind: transform
  needs: [sections, summary]
  body: "steps.sections.output | join('\\n\\n')"
"""


def workflow_post(**overrides: str) -> dict[str, str]:
    data = {
        "meta-name": "Blog",
        "meta-slug": "blog",
        "meta-description": "",
        "meta-visibility": "private",
        "editor-body": "",
        "editor-system_prompt": "",
        "editor-schema_format": "yaml",
        "editor-schema": SCHEMA,
        "editor-steps": STEPS,
        "editor-result_step": "",
        "editor-provider": "offline",
        "editor-model": "offline-echo",
        "editor-temperature": "0.7",
        "editor-max_tokens": "1024",
        "action": "draft",
    }
    return data | overrides


def preview(client: Client, **overrides: str) -> str:
    data = {
        "prefix": "editor",
        "editor-schema_format": "yaml",
        "editor-schema": SCHEMA,
        "editor-steps": STEPS,
        "editor-result_step": "",
    }
    response = client.post("/editor/preview/", data | overrides, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.content.decode()


def error_under(page: str, field_id: str) -> str:
    """The text of the error message tied to a field (GOV.UK: above the field, by its id)."""
    return page.split(f'id="{field_id}_error"')[1].split("</div>")[0]


def stages(html: str) -> list[list[str]]:
    """The preview's stages in order, each the names of its steps (as a reader meets them)."""
    found = []
    for stage in re.findall(r'data-step-level="\d+">(.*?)</ul>', html, re.DOTALL):
        found.append(re.findall(r'data-step="([a-z0-9_]+)"', stage))
    return found


def test_an_owner_creates_a_workflow_with_an_empty_body(client: Client, owner) -> None:
    client.force_login(owner)
    assert 'name="editor-steps"' in client.get("/templates/new/").content.decode()
    response = client.post("/templates/new/", workflow_post(**{"editor-result_step": "article"}))
    assert response.status_code == 302, response.content.decode()[:2000]
    version = Template.objects.get(slug="blog").published_version
    assert version.body == "" and version.is_workflow
    assert [step["name"] for step in version.steps] == ["outline", "sections", "summary", "article"]
    # Stored canonical: every key, defaults filled in.
    assert version.steps[1]["for_each"] == "steps.outline.output" and version.steps[1]["parallel"] == 2
    assert version.steps[2]["kind"] == "prompt" and version.steps[0]["needs"] == []
    assert version.result_step == "article"


def test_the_steps_may_be_json_like_the_parameters(client: Client, owner) -> None:
    client.force_login(owner)
    steps = [{"name": "only", "body": "About {{ topic }}."}]
    schema = json.dumps([{"name": "topic", "type": "string"}])
    post = workflow_post(
        **{"editor-schema_format": "json", "editor-schema": schema, "editor-steps": json.dumps(steps)}
    )
    assert client.post("/templates/new/", post).status_code == 302
    assert Template.objects.get().published_version.steps[0]["body"] == "About {{ topic }}."


def test_editing_shows_the_steps_and_saving_them_unchanged_makes_no_version(client: Client, owner) -> None:
    client.force_login(owner)
    client.post("/templates/new/", workflow_post())
    template = Template.objects.get(slug="blog")
    page = client.get(f"/t/{template.slug}/edit/").content.decode()
    # Shown as the author wrote them: reading order, defaults left out.
    assert "- name: outline\n  kind: transform\n" in page and "parallel: 2" in page
    assert "output: text" not in page
    response = client.post(f"/t/{template.slug}/edit/", editor_post(template, action="publish"), follow=True)
    assert "Nothing in the content changed" in response.content.decode()
    edited = editor_post(
        template, **{"editor-steps": STEPS.replace("parallel: 2", "parallel: 3"), "action": "publish"}
    )
    assert client.post(f"/t/{template.slug}/edit/", edited).status_code == 302
    template.refresh_from_db()
    assert template.published_version.number == 2 and template.published_version.steps[1]["parallel"] == 3


def test_a_step_error_names_the_step_in_the_summary_and_under_the_field_and_keeps_the_text(
    client: Client, owner
) -> None:
    client.force_login(owner)
    broken = STEPS.replace("needs: [outline]\n  body", "needs: [outlines]\n  body")
    response = client.post("/templates/new/", workflow_post(**{"editor-steps": broken}))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<title>Error:" in page
    summary = page.split("data-error-summary")[1].split("</ul>")[0]
    assert 'href="#id_editor-steps"' in summary and "summary" in summary and "outlines" in summary
    assert "summary" in error_under(page, "id_editor-steps") and "outlines" in error_under(
        page, "id_editor-steps"
    )
    assert 'aria-describedby="id_editor-steps_helptext id_editor-steps_error"' in page
    # Nothing the author typed is lost: the steps, the schema and the rest come back as posted.
    assert "needs: [outlines]" in page and "- name: language" in page
    assert not Template.objects.exists()


def test_a_result_step_that_does_not_exist_is_refused_at_that_field(client: Client, owner) -> None:
    client.force_login(owner)
    response = client.post("/templates/new/", workflow_post(**{"editor-result_step": "nope"}))
    assert response.status_code == 200
    page = response.content.decode()
    assert "nope" in error_under(page, "id_editor-result_step")
    assert 'href="#id_editor-result_step"' in page
    assert not Template.objects.exists()


def test_a_steps_syntax_error_gives_the_line(client: Client, owner) -> None:
    client.force_login(owner)
    response = client.post("/templates/new/", workflow_post(**{"editor-steps": "- name: a\n body: x\n - b"}))
    assert response.status_code == 200
    assert "YAML error at line" in error_under(response.content.decode(), "id_editor-steps")


def test_a_template_without_steps_still_needs_its_body(client: Client, owner) -> None:
    client.force_login(owner)
    response = client.post("/templates/new/", workflow_post(**{"editor-steps": ""}))
    assert response.status_code == 200
    assert "This field is required." in error_under(response.content.decode(), "id_editor-body")
    assert not Template.objects.exists()


def test_the_preview_lists_the_steps_by_stage_with_what_runs_in_parallel(client: Client, owner) -> None:
    client.force_login(owner)
    html = preview(client, **{"editor-result_step": "article"})
    assert "<html" not in html and "data-steps-preview" in html
    assert stages(html) == [["outline"], ["sections", "summary"], ["article"]]
    text = re.sub(r"<[^>]+>", "", html)
    text = re.sub(r"\s+", " ", text)
    assert "Stage 1: one step" in text and "Stage 2: 2 steps, in parallel" in text
    assert (
        "sections: a prompt; after outline; once for each item of steps.outline.output, at most 2 at a time"
        in text
    )
    assert (
        "article: a transform (no model call); after sections, summary; its output is the run's output"
        in text
    )


def test_the_preview_follows_the_steps_being_typed(client: Client, owner) -> None:
    client.force_login(owner)
    chained = STEPS.replace("- name: summary\n  needs: [outline]", "- name: summary\n  needs: [sections]")
    assert stages(preview(client, **{"editor-steps": chained})) == [
        ["outline"], ["sections"], ["summary"], ["article"]
    ]  # fmt: skip


def test_the_preview_names_the_step_with_a_problem_instead_of_the_order(client: Client, owner) -> None:
    client.force_login(owner)
    cycle = STEPS.replace(
        "- name: outline\n  kind: transform", "- name: outline\n  needs: [article]\n  kind: transform"
    )
    html = preview(client, **{"editor-steps": cycle})
    problems = html.split("data-step-problems")[1].split("</div>")[0]
    assert "outline" in problems or "article" in problems
    assert "data-step-levels" not in html


def test_the_preview_of_a_single_prompt_says_nothing_of_steps(client: Client, owner) -> None:
    client.force_login(owner)
    html = preview(client, **{"editor-steps": "", "editor-body": "About {{ topic }}"})
    assert "data-steps-preview" not in html


def test_the_preview_speaks_the_pages_language(client: Client, owner) -> None:
    client.force_login(owner)
    data = {
        "prefix": "editor",
        "editor-schema_format": "yaml",
        "editor-schema": SCHEMA,
        "editor-steps": STEPS,
    }
    html = client.post(
        "/editor/preview/", data, headers={"HX-Request": "true", "Accept-Language": "pt-br"}
    ).content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))
    assert "Fase 2: 2 etapas, em paralelo" in text


def test_parameters_read_only_by_steps_are_not_called_unused(client: Client, owner) -> None:
    client.force_login(owner)
    html = preview(client)
    # "topic" is read by the steps alone (the body is empty); "language" by nothing.
    assert "Parameter “language”: the prompt never uses it." in html
    assert "Parameter “topic”" not in html


def test_the_history_diff_shows_a_changed_step(client: Client, owner) -> None:
    client.force_login(owner)
    client.post("/templates/new/", workflow_post())
    template = Template.objects.get(slug="blog")
    edited = STEPS.replace("Sum up {{ topic }}.", "Sum up {{ topic }} in one line.")
    client.post(f"/t/{template.slug}/edit/", editor_post(template, **{"editor-steps": edited}))
    client.post(f"/t/{template.slug}/edit/", editor_post(template, **{"editor-result_step": "summary"}))
    page = client.get(f"/t/{template.slug}/history/").content.decode()
    v2 = page.split('id="v2"')[1].split('id="v1"')[0]
    assert "Steps changed" in v2 and "Sum up {{ topic }} in one line." in v2.split("<ins>")[1]
    assert "Sum up {{ topic }}." in v2.split("<del>")[1]
    v3 = page.split('id="v3"')[1].split('id="v2"')[0]
    assert "Result step changed" in v3 and "Steps changed" not in v3


def test_the_admin_editor_takes_steps_too(client: Client, staff) -> None:
    client.force_login(staff)
    client.post("/templates/new/", workflow_post())
    template = Template.objects.get(slug="blog")
    url = f"/admin/templates_app/template/{template.pk}/editor/"
    assert 'name="editor-steps"' in client.get(url).content.decode()
    edited = editor_post(template, **{"editor-steps": STEPS.replace("parallel: 2", "parallel: 5")})
    assert client.post(url, edited).status_code == 302
    template.refresh_from_db()
    assert template.published_version.steps[1]["parallel"] == 5
