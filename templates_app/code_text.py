"""YAML or JSON typed by an author (the parameter schema, the steps): loaded safely, and
each syntax error told with its line and column, in the same words for every field."""

from __future__ import annotations

import json
from typing import Any

import yaml
from django.utils.translation import gettext as _

from promptlab.safe_load import TooDeeplyNested, load_json, load_yaml


class CodeTextError(ValueError):
    """The text does not load; the message says where and why (translated)."""


def load_code_text(text: str, fmt: str, *, max_length: int, too_long: str, too_deep: str) -> Any:
    """The data in ``text`` (``fmt`` "json" or "yaml"; None for an empty YAML document).

    ``too_long`` and ``too_deep`` are the field's own messages (``too_long`` takes ``%(max)d``);
    raises CodeTextError."""
    if len(text) > max_length:
        raise CodeTextError(too_long % {"max": max_length})
    try:
        return load_json(text) if fmt == "json" else load_yaml(text)
    except TooDeeplyNested:
        raise CodeTextError(too_deep) from None
    except json.JSONDecodeError as exc:
        raise CodeTextError(
            _("JSON error at line %(line)d, column %(column)d: %(problem)s.")
            % {"line": exc.lineno, "column": exc.colno, "problem": exc.msg}
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is not None:
            raise CodeTextError(
                _("YAML error at line %(line)d, column %(column)d: %(problem)s.")
                % {"line": mark.line + 1, "column": mark.column + 1, "problem": problem}
            ) from None
        raise CodeTextError(_("YAML error: %(problem)s.") % {"problem": problem}) from None


def dump_code_text(data: Any, fmt: str) -> str:
    """``data`` as the author reads it: indented JSON, or block-style YAML in the given key order."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
