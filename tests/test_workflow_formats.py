"""A workflow in files (issue 15): PromptLab's own format holds its steps and result step
losslessly; every other format says, on export, that it can't hold them."""

from __future__ import annotations

import io

import pytest
import yaml
from django.test import Client

from templates_app.formats import FORMATS, FormatError, promptlab
from templates_app.formats.service import export_template, import_template
from templates_app.models import Template, Visibility

pytestmark = pytest.mark.django_db

PARAMETERS = [
    {"name": "topic", "type": "string", "label": {"en": "Topic", "pt": "Assunto"}},
    {"name": "language", "type": "choice", "choices": ["English", "Spanish"], "default": "English"},
]
STEPS = [
    {"name": "outline", "kind": "transform", "body": "['Why ' ~ topic, 'How ' ~ topic]"},
    {
        "name": "sections",
        "needs": ["outline"],
        "for_each": "steps.outline.output",
        "parallel": 2,
        "system_prompt": "You write\nblog posts.",
        "body": "Write “{{ item }}” ({{ item_index }}) about {{ topic }}.\n\nBe brief.  ",
        "model_settings": {
            "provider": "offline",
            "model": "offline-echo",
            "temperature": 0.2,
            "max_tokens": 300,
        },
    },
    {
        "name": "facts",
        "needs": ["outline"],
        "output": "json",
        "schema": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "body": "List facts about {{ topic }} as a JSON list.",
    },
    {
        "name": "article",
        "kind": "transform",
        "needs": ["sections", "facts"],
        "body": "steps.sections.output | join('\\n\\n')",
    },
    {
        "name": "translated",
        "needs": ["article"],
        "when": "language != 'English'",
        "body": "Translate into {{ language }}: {{ steps.article.output }}",
    },
]


@pytest.fixture
def workflow(owner) -> Template:
    template = Template.objects.create(slug="blog", name="Blog", owner=owner, visibility=Visibility.PUBLIC)
    template.create_version(body="", parameters=PARAMETERS, steps=STEPS, result_step="article", author=owner)
    return template


def test_the_own_format_holds_the_steps_and_result_step_losslessly(workflow: Template) -> None:
    version = workflow.published_version
    exported = export_template(workflow, "promptlab")
    assert exported.warnings == []
    assert "steps:" in exported.content and "result_step: article" in exported.content
    again = promptlab.parse(exported.content)
    assert again.warnings == []
    assert again.steps == version.steps  # canonical, every key, in the graph's order
    assert (again.result_step, again.body, again.parameters) == ("article", "", version.parameters)
    # And once more through a file: the same text.
    twice = promptlab.dump(_version_from(again, workflow))
    assert twice == exported.content


def _version_from(imported, template: Template):
    """An unsaved version holding what was read (dump needs only its attributes)."""
    from templates_app.models import TemplateVersion

    return TemplateVersion(template=template, **imported.version_content())


def test_a_workflow_file_imports_as_a_workflow(workflow: Template, owner) -> None:
    text = export_template(workflow, "promptlab").content
    imported, warnings = import_template(text, owner=owner, format_name="promptlab", slug="blog-again")
    assert warnings == []
    version = imported.published_version
    assert version.steps == workflow.published_version.steps and version.result_step == "article"
    assert version.is_workflow and version.body == ""


def test_the_import_page_takes_a_workflow_file(client: Client, workflow: Template, owner) -> None:
    client.force_login(owner)
    text = export_template(workflow, "promptlab").content.replace("slug: blog", "slug: blog-file")
    upload = io.BytesIO(text.encode())
    upload.name = "blog-file.md"
    response = client.post("/import/", {"file": upload})
    assert response.status_code == 200
    assert Template.objects.get(slug="blog-file").published_version.steps == workflow.published_version.steps


def test_a_workflow_file_with_a_broken_step_is_refused_naming_the_step(owner) -> None:
    text = "---\nslug: broken\nname: Broken\nsteps:\n- {name: a, needs: [b], body: x}\n---\n"
    with pytest.raises(FormatError) as caught:
        import_template(text, owner=owner, format_name="promptlab")
    message = " ".join(caught.value.errors)
    assert message.startswith("Steps: ") and "“a”" in message and "b" in message
    assert not Template.objects.exists()


def test_a_file_whose_steps_are_not_a_list_is_refused() -> None:
    with pytest.raises(FormatError) as caught:
        promptlab.parse("---\nslug: x\nsteps: {name: a}\n---\n")
    assert "“steps” must be a list" in str(caught.value)


@pytest.mark.parametrize("format_name", [name for name in FORMATS if name != "promptlab"])
def test_every_other_format_lists_the_steps_among_what_it_cannot_hold(
    workflow: Template, format_name: str
) -> None:
    exported = export_template(workflow, format_name)
    lost = [warning for warning in exported.warnings if "steps" in warning]
    assert len(lost) == 1
    assert "outline, sections, facts, article, translated" in lost[0]
    # Said at the top of the file as well (the export's comments), and in the download's header.
    assert "outline, sections, facts, article, translated" in exported.content.split("---")[1]
    assert "steps" in exported.as_response()["X-PromptLab-Warnings"]
    # Nothing of the steps leaks into the file's data.
    front = yaml.safe_load(exported.content.split("---")[1])
    assert "steps" not in front and "result_step" not in front


def test_a_single_prompt_exports_with_no_word_of_steps(make_template) -> None:
    template = make_template()
    for name in FORMATS:
        assert not [w for w in export_template(template, name).warnings if "steps" in w], name
