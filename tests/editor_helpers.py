"""Helpers shared by the theme, version and editor tests (their fixtures live in conftest)."""

from __future__ import annotations

from typing import Any

from templates_app.editor import initial_for
from templates_app.models import Template


def editor_post(template: Template, **overrides: Any) -> dict[str, Any]:
    """The editor's POST for the template's latest version unchanged, with overrides."""
    initial = initial_for(template.latest_version)
    data: dict[str, Any] = {
        f"editor-{key}": "" if value is None else str(value) for key, value in initial.items()
    }
    data |= {"meta-name": template.name, "meta-description": template.description}
    data |= {"meta-visibility": template.visibility, "action": "publish"}
    data.update(overrides)
    return data


def code_editor(page: Any, field_id: str) -> Any:
    """The code editor's content (CodeMirror) standing in for the textarea ``field_id``."""
    return page.locator(f"[data-code-editor-for='{field_id}'] .cm-content")


def fill_code(page: Any, field_id: str, text: str) -> None:
    """Replace a code field's text as a person would, in the code editor (with JavaScript)
    or the textarea (without); then wait until the textarea, which the form submits, has it."""
    editor = code_editor(page, field_id)
    if editor.count():
        editor.fill(text)
        page.wait_for_function(
            "([id, text]) => document.getElementById(id).value === text", arg=[field_id, text]
        )
    else:
        page.locator(f"#{field_id}").fill(text)
