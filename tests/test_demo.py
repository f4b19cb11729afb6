"""The demo templates: files in PromptLab's own format, installed by ``seed_demo``."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from providers import GenerationRequest
from providers.offline import OfflineProvider
from templates_app.demo import DEMO_DIR, demo_templates
from templates_app.formats import promptlab
from templates_app.models import Template, TemplateVersion, Visibility
from templates_app.steps import StepContext

pytestmark = pytest.mark.django_db


def test_seed_demo_installs_every_demo_file_as_a_public_template_and_is_safe_to_run_again() -> None:
    call_command("seed_demo", stdout=StringIO())
    files = sorted(DEMO_DIR.glob("*.md"))
    assert len(files) == len(demo_templates()) >= 6
    assert any(demo.steps for demo in demo_templates())  # a workflow among them
    for path in files:
        demo = promptlab.parse(path.read_text(encoding="utf-8"))
        assert not demo.warnings, (path.name, demo.warnings)
        template = Template.objects.get(slug=demo.slug)
        assert template.visibility == Visibility.PUBLIC
        assert (template.name, template.description) == (demo.name, demo.description)
        version = template.published_version
        assert (version.system_prompt, version.body, version.parameters) == (
            demo.system_prompt,
            demo.body,
            demo.parameters,
        )
        assert (version.steps, version.result_step) == (demo.steps, demo.result_step)
    versions = TemplateVersion.objects.count()
    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert TemplateVersion.objects.count() == versions
    assert again.getvalue().count("up to date") == len(files)


def test_an_installed_demo_exported_in_the_format_reads_back_as_its_file() -> None:
    call_command("seed_demo", stdout=StringIO())
    for demo in demo_templates():
        version = Template.objects.get(slug=demo.slug).published_version
        again = promptlab.parse(promptlab.dump(version))
        assert again.warnings == []
        fields = ("slug", "name", "description", "system_prompt", "body", "parameters", "visibility")
        for field in (*fields, "steps", "result_step"):
            assert getattr(again, field) == getattr(demo, field), (demo.slug, field)


def test_seed_demo_installs_a_demo_files_model_settings_and_theme(monkeypatch) -> None:
    # A demo file says everything a version holds: none of it is left to the defaults.
    text = (DEMO_DIR / "01-product-description.md").read_text(encoding="utf-8")
    head, rest = text.split("\n", 1)
    model = "model: {provider: offline, model: offline-echo, temperature: 0.3, max_tokens: 321}\n"
    theme = "theme: {primary: '#7c2d12'}\n"
    demo = promptlab.parse(head + "\n" + model + theme + rest)
    assert not demo.warnings
    monkeypatch.setattr("templates_app.management.commands.seed_demo.demo_templates", lambda: (demo,))
    call_command("seed_demo", stdout=StringIO())
    version = Template.objects.get(slug=demo.slug).published_version
    assert (version.temperature, version.max_tokens) == (Decimal("0.30"), 321)
    assert version.theme == {"primary": "#7c2d12"}
    # Run again, the same file is up to date (its model settings compare equal to the stored ones).
    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert again.getvalue().strip() == f"{demo.slug}: up to date"


def _run_offline(version: TemplateVersion, inputs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Walk a workflow's stages as the engine does, each prompt answered by the offline
    provider in process: what the run's output would be, and every step's."""
    graph = version.step_graph
    provider = OfflineProvider(delay=0)
    outputs: dict[str, dict[str, Any]] = {}
    for level in graph.levels():
        for name in level:
            step = graph.step(name)
            context = StepContext(inputs=inputs, outputs=outputs)
            skipped = (step.needs and all(outputs[need]["skipped"] for need in step.needs)) or not (
                step.condition_holds(context)
            )
            if skipped:
                outputs[name] = {"output": None, "skipped": True}
                continue
            if step.kind == "transform":
                outputs[name] = {"output": step.evaluate(context), "skipped": False}
                continue

            def answer(item_context: StepContext, step: Any = step) -> Any:
                system, prompt = step.render(item_context)
                request = GenerationRequest(system, prompt, version.model, 0.7, version.max_tokens)
                return step.parse_output(provider.answer(request))

            if step.for_each:
                items = step.items(context)
                value = [
                    answer(StepContext(inputs=inputs, outputs=outputs, item=item, item_index=index))
                    for index, item in enumerate(items)
                ]
            else:
                value = answer(context)
            outputs[name] = {"output": value, "skipped": False}
    return outputs[graph.result_step]["output"], outputs


@pytest.mark.parametrize(("language", "translated"), [("English", False), ("Spanish", True)])
def test_the_blog_post_workflow_runs_with_the_offline_provider(language: str, translated: bool) -> None:
    call_command("seed_demo", stdout=StringIO())
    version = Template.objects.get(slug="blog-post").published_version
    assert version.is_workflow and version.result_step == "post"
    assert version.step_graph.levels() == [["outline"], ["sections"], ["article"], ["translated"], ["post"]]
    assert version.step_graph.step("sections").parallel == 2
    inputs = {"topic": "home composting", "section_count": 3, "post_language": language}
    output, steps = _run_offline(version, inputs)
    assert steps["outline"]["output"] == [
        "Why home composting matters",
        "How home composting works",
        "Getting started with home composting",
    ]
    assert len(steps["sections"]["output"]) == 3
    assert all("Offline answer" in section for section in steps["sections"]["output"])
    assert steps["translated"]["skipped"] is not translated
    expected = steps["translated"]["output"] if translated else steps["article"]["output"]
    assert output == expected and output
    if translated:
        assert "Translate this blog post into Spanish" in output  # the offline provider quotes its prompt
