"""A json step's answer: the JSON in it, checked against the step's schema."""

from __future__ import annotations

import json
import re
from typing import Any

from django.utils.translation import gettext as _

from promptlab.safe_load import TooDeeplyNested, find_nul, load_json

from ..schema.regexes import json_schema_validator
from .errors import StepOutputInvalid

# A Markdown code fence around the answer, as models write JSON: ```json … ```.
_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(?P<content>.*?)\n?[ \t]*```", re.DOTALL)


def without_fence(text: str) -> str:
    """The JSON text of an answer: the content of its first code fence when the answer is
    not JSON as it stands (a model adds a fence, sometimes a sentence before it)."""
    stripped = text.strip()
    if stripped.startswith(("{", "[", '"')) or not stripped.startswith("```") and "```" not in stripped:
        return stripped
    match = _FENCE.search(stripped)
    return match["content"].strip() if match else stripped


def parse_json_output(text: str, schema: Any) -> Any:
    """The JSON value of an answer, valid for ``schema`` when one is given; raises
    StepOutputInvalid naming the first problem."""
    source = without_fence(text)
    try:
        value = load_json(source)
    except TooDeeplyNested:
        raise _not_json("it nests lists or objects too deeply") from None
    except json.JSONDecodeError as exc:
        raise _not_json(f"{exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:  # a number too long to read
        raise _not_json(str(exc)) from None
    if find_nul(value):
        raise _not_json("it holds a NUL character (\\u0000)")
    if schema is not None:
        error = next(iter(json_schema_validator(schema).iter_errors(value)), None)
        if error is not None:
            message = _(
                "The answer does not match the step's schema at %(path)s; the check says: “%(problem)s”."
            )
            raise StepOutputInvalid(
                message % {"path": error.json_path, "problem": error.message},
                f"{error.json_path}: {error.message}",
            )
    return value


def _not_json(detail: str) -> StepOutputInvalid:
    message = _("The answer is not valid JSON; the JSON reader says: “%(detail)s”.") % {"detail": detail}
    return StepOutputInvalid(message, f"not valid JSON: {detail}")
