"""What a file format does with a type is asked of the type (``schema.types``): Prompd's
"text", the date bounds Prompd can't spell, the keys no format holds."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from templates_app.formats import get_format

# Parsing asks which providers exist, and named provider connections live in the database.
pytestmark = pytest.mark.django_db


def prompd_file(parameters: str) -> str:
    return f"---\nid: notes\nname: Notes\nparameters:\n{parameters}---\nSummarise {{notes}}.\n"


def version_with(parameters: list[dict[str, Any]]) -> Any:
    template = SimpleNamespace(slug="notes", name="Notes", description="")
    return SimpleNamespace(
        template=template,
        system_prompt="",
        body="Summarise {{ notes }}.",
        parameters=parameters,
        steps=[],
        result_step="",
        allowed_models=[],
        provider="offline",
        model="offline-echo",
        temperature="0.70",
        max_tokens=256,
    )


def test_prompds_text_type_is_multiline_text_and_its_mark_is_never_reported() -> None:
    imported = get_format("prompd").parse(
        prompd_file(
            "  - {name: notes, type: text}\n"
            "  - {name: contact, type: text, format: email}\n"
            "  - {name: tone, type: text, enum: [dry, warm]}\n"
        )
    )
    kinds = {p["name"]: p["type"] for p in imported.parameters}
    assert kinds == {"notes": "text", "contact": "email", "tone": "choice"}
    assert not [warning for warning in imported.warnings if "x-multiline" in warning]


def test_prompd_export_reports_the_lost_date_bounds_once() -> None:
    warnings: list[str] = []
    parameters = [
        {"name": "notes", "type": "text"},
        {"name": "due", "type": "date", "min": "2026-01-01", "max": "2026-12-31"},
    ]
    text = get_format("prompd").dump(version_with(parameters), warnings)
    assert "formatMinimum" not in text and "formatMaximum" not in text
    assert [w for w in warnings if "earliest and latest dates" in w] == [
        "Parameter “due”: the earliest and latest dates (Prompd has no place for it)."
    ]


@pytest.mark.parametrize("format_name", ["prompd", "prompty", "dotprompt"])
def test_a_types_own_unexported_keys_are_reported_after_the_common_ones(format_name: str) -> None:
    warnings: list[str] = []
    parameters = [
        {"name": "notes", "type": "file", "group": "Input", "max_size": 2048, "extensions": [".txt"]},
        {
            "name": "code",
            "type": "string",
            "pattern": "[A-Z]+",
            "pattern_message": "Capitals",
            "hidden": False,
        },
    ]
    get_format(format_name).dump(version_with(parameters), warnings)
    named = [w.split(": ", 1)[1].split(" (")[0] for w in warnings if w.startswith("Parameter")]
    assert [w for w in named if w.startswith("“")] == [
        "“group”",
        "“max_size”",
        "“extensions”",
        "“hidden”",
        "“pattern_message”",
    ]
