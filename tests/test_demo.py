"""The demo templates: files in PromptLab's own format, installed by ``seed_demo``."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from templates_app.demo import DEMO_DIR, demo_templates
from templates_app.formats import promptlab
from templates_app.models import Template, TemplateVersion, Visibility

pytestmark = pytest.mark.django_db


def test_seed_demo_installs_every_demo_file_as_a_public_template_and_is_safe_to_run_again() -> None:
    call_command("seed_demo", stdout=StringIO())
    files = sorted(DEMO_DIR.glob("*.md"))
    assert len(files) == len(demo_templates()) >= 5
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
        for field in ("slug", "name", "description", "system_prompt", "body", "parameters", "visibility"):
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
