"""The demo templates `make run` installs: public, bilingual, and together
covering every parameter type and every key of the schema (docs/schema.md).

Each is a file in PromptLab's own format (``formats/promptlab.py``), read with the
same parser an import uses, so seeding the demo also exercises the format. The
files' names give the order they are installed in.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ..formats import promptlab
from ..formats.base import ImportedTemplate

DEMO_DIR = Path(__file__).resolve().parent


@cache
def demo_templates() -> tuple[ImportedTemplate, ...]:
    """Every demo template, parsed (once per process: the files ship with the code)."""
    return tuple(promptlab.parse(path.read_text(encoding="utf-8")) for path in sorted(DEMO_DIR.glob("*.md")))
