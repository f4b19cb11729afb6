"""What changed between two versions: a line diff per part, for the history page."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import yaml
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .models import TemplateVersion
from .steps_text import readable_steps


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed", "context" or "hunk"
    text: str


@dataclass(frozen=True)
class DiffSection:
    title: str | Promise
    lines: list[DiffLine]


def _yaml(value: Any) -> str:
    if not value:
        return ""
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)


def _parts(version: TemplateVersion | None) -> list[tuple[str | Promise, str]]:
    if version is None:
        return [(title, "") for title, _getter in PARTS]
    return [(title, getter(version)) for title, getter in PARTS]


PARTS = (
    (_("Prompt body"), lambda v: v.body),
    (_("System prompt"), lambda v: v.system_prompt),
    (_("Parameters"), lambda v: _yaml(v.parameters)),
    # A workflow's steps as the editor shows them (keys in reading order, defaults left out).
    (_("Steps"), lambda v: _yaml(readable_steps(v.steps))),
    (_("Result step"), lambda v: v.result_step),
    (_("Model settings"), lambda v: _yaml(v.model_settings)),
    (_("Theme"), lambda v: _yaml(v.theme)),
)


def version_diff(previous: TemplateVersion | None, version: TemplateVersion) -> list[DiffSection]:
    """The parts that changed from ``previous`` (None for the first version), as unified diffs."""
    sections = []
    for (title, old), (_title, new) in zip(_parts(previous), _parts(version), strict=True):
        if old == new:
            continue
        lines = []
        diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2)
        for line in diff:
            if line.startswith(("---", "+++")):
                continue
            if line.startswith("@@"):
                lines.append(DiffLine("hunk", line))
            elif line.startswith("+"):
                lines.append(DiffLine("added", line[1:]))
            elif line.startswith("-"):
                lines.append(DiffLine("removed", line[1:]))
            else:
                lines.append(DiffLine("context", line[1:]))
        sections.append(DiffSection(title, lines))
    return sections
