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
