"""Parsing a parameter schema: every authoring error, each naming the parameter.

The keys every parameter may have are checked here; each type checks its own
(``types``)."""

from __future__ import annotations

import keyword
import re
from typing import Any

from django.utils.translation import gettext as _

from promptlab.safe_load import find_nul

from .parameters import Parameter, SchemaError
from .regexes import PatternBudget
from .types import PARAMETER_TYPES, TYPES
from .types.base import Problems, is_int, is_localized_text
from .types.json_value import MAX_SCHEMA_DEPTH, without_oversized_patterns
from .types.text import breaks_in_browsers

__all__ = [
    "COMMON_KEYS",
    "MAX_SCHEMA_DEPTH",
    "NAME_PATTERN",
    "TYPE_KEYS",
    "breaks_in_browsers",
    "parse_parameters",
    "without_oversized_patterns",
]

COMMON_KEYS = frozenset(
    {"name", "type", "label", "help", "placeholder", "required", "default", "group", "order", "hidden"}
)
TYPE_KEYS: dict[str, frozenset[str]] = {name: kind.keys for name, kind in TYPES.items()}
LOCALIZED_KEYS = ("label", "help", "placeholder", "group", "pattern_message")
NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


def parse_parameters(data: Any, *, compile_patterns: bool = True) -> tuple[Parameter, ...]:
    """``compile_patterns=False`` for a schema read back from the database: its patterns
    were compiled in a render process when it was saved, and reading it must not depend
    on those processes (anyone can keep them busy). The static size check still runs."""
    if data in (None, ""):
        return ()
    if not isinstance(data, list):
        raise SchemaError([_("The parameter schema must be a list of parameters.")])
    errors: list[str] = []
    parameters: list[Parameter] = []
    seen: set[str] = set()
    budget = PatternBudget() if compile_patterns else None
    for position, raw in enumerate(data, start=1):
        try:
            parameter = _parse_parameter(raw, position, budget)
        except SchemaError as exc:
            errors.extend(exc.errors)
            continue
        if parameter.name in seen:
            errors.append(_("Parameter “%(name)s”: the name is used twice.") % {"name": parameter.name})
        seen.add(parameter.name)
        parameters.append(parameter)
    if errors:
        raise SchemaError(errors)
    return tuple(parameters)


def _parse_name(raw: Any, position: int) -> str:
    if not isinstance(raw, dict):
        raise SchemaError([_("Parameter %(position)d: must be an object.") % {"position": position}])
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise SchemaError(
            [
                _(
                    "Parameter %(position)d: “name” must be lower-case letters, digits and "
                    "underscores, starting with a letter or an underscore (at most 64)."
                )
                % {"position": position}
            ]
        )
    return name


def _parse_type(raw: dict[str, Any], problems: Problems) -> str:
    if find_nul(raw):
        problems.add(_("a text in it contains the NUL character (U+0000), which can't be stored."))
        raise SchemaError(problems.errors)
    kind = raw.get("type", "string")
    if kind not in PARAMETER_TYPES:
        problems.add(
            _("unknown type “%(type)s” (known: %(known)s)."), type=kind, known=", ".join(PARAMETER_TYPES)
        )
        raise SchemaError(problems.errors)
    return kind


def _check_common_keys(raw: dict[str, Any], kind: str, problems: Problems) -> None:
    unknown = set(raw) - COMMON_KEYS - TYPE_KEYS[kind]
    if unknown:
        problems.add(
            _("unknown key(s) %(keys)s for type “%(type)s”."), keys=", ".join(sorted(unknown)), type=kind
        )
    for key in LOCALIZED_KEYS:
        if key in raw and not is_localized_text(raw[key]):
            problems.add(_("“%(key)s” must be a text or a mapping of language to text."), key=key)
    for key in ("required", "hidden"):
        if key in raw and not isinstance(raw[key], bool):
            problems.add(_("“%(key)s” must be true or false."), key=key)
    if "order" in raw and not is_int(raw["order"]):
        problems.add(_("“order” must be a whole number."))


def _parse_parameter(raw: Any, position: int, budget: PatternBudget | None) -> Parameter:
    name = _parse_name(raw, position)
    problems = Problems(name)
    kind = _parse_type(raw, problems)
    _check_common_keys(raw, kind, problems)
    values = TYPES[kind].parse(raw, problems, budget)
    hidden = raw.get("hidden", False) is True
    if hidden and raw.get("default") is None:
        problems.add(_("a hidden parameter needs a “default”: the value it always has."))
    if problems.errors:
        raise SchemaError(problems.errors)
    parameter = Parameter(
        name=name,
        type=kind,
        label=raw.get("label") or name.replace("_", " ").strip().capitalize() or name,
        help=raw.get("help", ""),
        placeholder=raw.get("placeholder", ""),
        required=raw.get("required", True),
        default=raw.get("default"),
        group=raw.get("group") or None,
        order=raw.get("order", 0),
        hidden=hidden,
        options=tuple((key, value) for key, value in values.items() if value is not None),
    )
    if parameter.default is not None:
        TYPES[kind].check_default(parameter, problems)
    if problems.errors:
        raise SchemaError(problems.errors)
    return parameter
