"""Parsing a parameter schema: every authoring error, each naming the parameter."""

from __future__ import annotations

import keyword
import math
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import regex
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from promptlab.safe_load import find_nul, nests_deeper_than

from .json_refs import SCHEMA_DATA_KEYS, endless_reference
from .parameters import DEFAULT_MAX_SIZE, PARAMETER_TYPES, TEXT_LIKE, Choice, Parameter, SchemaError
from .regexes import NEVER_MATCHES, PatternBudget, full_match_source, pattern_problem

# Levels of lists and objects in a json parameter's schema: far more than real schemas use,
# and far enough from Python's recursion limit for jsonschema's recursive walks in a web thread.
MAX_SCHEMA_DEPTH = 50
COMMON_KEYS = frozenset(
    {"name", "type", "label", "help", "placeholder", "required", "default", "group", "order", "hidden"}
)
_LENGTHS = frozenset({"min_length", "max_length"})
_PATTERN = frozenset({"pattern", "pattern_message"})
TYPE_KEYS: dict[str, frozenset[str]] = {
    "string": _LENGTHS | _PATTERN,
    "text": _LENGTHS,
    "integer": frozenset({"min", "max", "step"}),
    "number": frozenset({"min", "max", "step"}),
    "boolean": frozenset(),
    "choice": frozenset({"choices", "widget"}),
    "multichoice": frozenset({"choices", "min_items", "max_items"}),
    "email": _LENGTHS | _PATTERN,
    "url": _LENGTHS | _PATTERN,
    "date": frozenset({"min", "max"}),
    "json": frozenset({"schema"}),
    "file": frozenset({"max_size", "extensions"}),
}
LOCALIZED_KEYS = ("label", "help", "placeholder", "group", "pattern_message")
NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
EXTENSION_PATTERN = re.compile(r"^\.[a-z0-9][a-z0-9._-]{0,19}$")
# Regular-expression syntax Python knows but browsers' (JavaScript's) does not, or
# reads differently: refused, so a pattern means the same in the form and the page.
NON_PORTABLE_REGEX = re.compile(r"\(\?P|\(\?#|\(\?[aiLmsux-]+[):]|\\[AZz]|[*+?}][+]")


_CLASS_SYNTAX = frozenset("()[{}/|")
_DOUBLE_PUNCTUATORS = frozenset(c * 2 for c in "&!#$%*+,.:;<=>?@^`~")


def breaks_in_browsers(pattern: str) -> bool:
    """Whether browsers, which compile `pattern` with the `v` flag, would refuse it
    (and so silently not check it): inside a class, `( ) [ { } / |` and a `-` that
    is not a range must be escaped, and doubled punctuation is reserved."""
    in_class = False
    start = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if not in_class:
            if char == "[":
                in_class = True
                start = i + 2 if pattern[i + 1 : i + 2] == "^" else i + 1
                i = start
                continue
        elif char == "]" and i > start:
            in_class = False
        else:
            lone_dash = char == "-" and (i == start or pattern[i + 1 : i + 2] == "]")
            if lone_dash or char in _CLASS_SYNTAX or pattern[i : i + 2] in _DOUBLE_PUNCTUATORS:
                return True
        i += 1
    return False


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


def _is_localized_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    # YAML's .inf and JSON's 1e400 are floats too, but no form can hold them.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


class _Problems:
    """Collects a parameter's problems, each prefixed with the parameter's name."""

    def __init__(self, name: str) -> None:
        self.where = _("Parameter “%(name)s”") % {"name": name}
        self.errors: list[str] = []

    def add(self, message: str, **params: Any) -> None:
        self.errors.append(f"{self.where}: {message % params if params else message}")


def _parse_parameter(raw: Any, position: int, budget: PatternBudget | None) -> Parameter:
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
    problems = _Problems(name)
    if find_nul(raw):
        problems.add(_("a text in it contains the NUL character (U+0000), which can't be stored."))
        raise SchemaError(problems.errors)
    kind = raw.get("type", "string")
    if kind not in PARAMETER_TYPES:
        problems.add(
            _("unknown type “%(type)s” (known: %(known)s)."), type=kind, known=", ".join(PARAMETER_TYPES)
        )
        raise SchemaError(problems.errors)
    unknown = set(raw) - COMMON_KEYS - TYPE_KEYS[kind]
    if unknown:
        problems.add(
            _("unknown key(s) %(keys)s for type “%(type)s”."), keys=", ".join(sorted(unknown)), type=kind
        )
    for key in LOCALIZED_KEYS:
        if key in raw and not _is_localized_text(raw[key]):
            problems.add(_("“%(key)s” must be a text or a mapping of language to text."), key=key)
    for key in ("required", "hidden"):
        if key in raw and not isinstance(raw[key], bool):
            problems.add(_("“%(key)s” must be true or false."), key=key)
    if "order" in raw and not _is_int(raw["order"]):
        problems.add(_("“order” must be a whole number."))
    values: dict[str, Any] = {}
    _parse_bounds(raw, kind, problems, values)
    for key in ("min_length", "max_length", "min_items", "max_items"):
        value = raw.get(key)
        if value is not None and (not _is_int(value) or value < 0):
            problems.add(_("“%(key)s” must be a whole number of 0 or more."), key=key)
        else:
            values[key] = value
    for low, high in (("min_length", "max_length"), ("min_items", "max_items")):
        if values.get(low) is not None and values.get(high) is not None and values[low] > values[high]:
            problems.add(_("“%(low)s” is above “%(high)s”."), low=low, high=high)
    if "pattern" in raw:
        values["pattern"] = _parse_pattern(raw["pattern"], problems, budget)
    if "pattern_message" in raw and "pattern" not in raw:
        problems.add(_("“pattern_message” needs a “pattern”."))
    choices: tuple[Choice, ...] = ()
    if kind in ("choice", "multichoice"):
        choices = _parse_choices(raw.get("choices"), problems)
        if raw.get("widget") not in (None, "radio", "select"):
            problems.add(_("“widget” must be “radio” or “select”."))
        if values.get("min_items") and choices and values["min_items"] > len(choices):
            problems.add(_("“min_items” is more than the number of choices."))
    if kind == "json" and "schema" in raw:
        _check_json_schema(raw["schema"], problems, budget)
    if kind == "file":
        values["max_size"] = raw.get("max_size", DEFAULT_MAX_SIZE)
        if not _is_int(values["max_size"]) or values["max_size"] < 1:
            problems.add(_("“max_size” must be a whole number of bytes, 1 or more."))
        values["extensions"] = _parse_extensions(raw.get("extensions", []), problems)
        if "default" in raw:
            problems.add(_("a file parameter can't have a default."))
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
        choices=choices,
        widget=raw.get("widget"),
        min=values.get("min"),
        max=values.get("max"),
        step=values.get("step"),
        min_length=values.get("min_length"),
        max_length=values.get("max_length"),
        pattern=values.get("pattern"),
        pattern_message=raw.get("pattern_message", ""),
        min_items=values.get("min_items"),
        max_items=values.get("max_items"),
        value_schema=raw.get("schema"),
        max_size=values.get("max_size", DEFAULT_MAX_SIZE),
        extensions=values.get("extensions", ()),
    )
    if parameter.default is not None:
        _check_default(parameter, problems)
    if problems.errors:
        raise SchemaError(problems.errors)
    return parameter


def _parse_bounds(raw: dict[str, Any], kind: str, problems: _Problems, values: dict[str, Any]) -> None:
    if kind == "date":
        for key in ("min", "max"):
            if key in raw and not _is_iso_date(raw[key]):
                problems.add(_("“%(key)s” must be a date written YYYY-MM-DD."), key=key)
            else:
                values[key] = raw.get(key)
    else:
        check = _is_int if kind == "integer" else _is_number
        for key in ("min", "max", "step"):
            value = raw.get(key)
            if value is not None and not check(value):
                if kind == "integer":
                    problems.add(_("“%(key)s” must be a whole number."), key=key)
                else:
                    problems.add(_("“%(key)s” must be a number."), key=key)
            else:
                values[key] = value
        step = values.get("step")
        if step is not None and step <= 0:
            problems.add(_("“step” must be above 0."))
            values["step"] = None
        elif step is not None and values.get("min") is not None:
            # The browser counts steps from `min`, JSON Schema's multipleOf from 0:
            # they agree only when `min` is itself a multiple of the step.
            try:
                off_step = Decimal(str(values["min"])) % Decimal(str(step)) != 0
            except InvalidOperation:  # min/step needs more digits than Decimal keeps
                problems.add(_("“min” is too large for its “step”: use a larger step or a smaller min."))
            else:
                if off_step:
                    problems.add(_("“min” must be a multiple of “step”."))
    if values.get("min") is not None and values.get("max") is not None and values["min"] > values["max"]:
        problems.add(_("“min” is above “max”."))


def _parse_pattern(pattern: Any, problems: _Problems, budget: PatternBudget | None) -> str | None:
    if not isinstance(pattern, str) or not pattern:
        problems.add(_("“pattern” must be a regular expression."))
        return None
    # Checked with the engine that runs it (the form's validator uses regex, not re),
    # after the size check, since compiling an oversized pattern is itself the danger.
    if problem := pattern_problem(pattern):
        problems.add(problem)
        return None
    if budget is not None and (problem := budget.compile_problem([full_match_source(pattern)])):
        problems.add(problem)
        return None
    if NON_PORTABLE_REGEX.search(pattern):
        problems.add(
            _(
                "“pattern” uses syntax browsers don't share (named groups as (?P…), inline flags, "
                "\\A, \\Z or possessive quantifiers); write it as a JavaScript regular expression would."
            )
        )
        return None
    if breaks_in_browsers(pattern):
        problems.add(
            _(
                "“pattern” would be ignored by browsers: inside [ ], escape - (unless it makes a "
                "range), /, |, (, ), [, { and } with a backslash."
            )
        )
        return None
    return pattern


def _parse_choices(raw: Any, problems: _Problems) -> tuple[Choice, ...]:
    if not isinstance(raw, list) or not raw:
        problems.add(_("needs a non-empty list of “choices”."))
        return ()
    choices: list[Choice] = []
    for item in raw:
        if isinstance(item, str) and item:
            choices.append(Choice(value=item, label=item))
        elif (
            isinstance(item, dict)
            and set(item) <= {"value", "label"}
            and isinstance(item.get("value"), str)
            and item["value"]
            and _is_localized_text(item.get("label", item["value"]))
        ):
            choices.append(Choice(value=item["value"], label=item.get("label", item["value"])))
        else:
            problems.add(_('each choice must be a non-empty text or {"value", "label"}.'))
            return ()
    values = [choice.value for choice in choices]
    if len(set(values)) != len(values):
        problems.add(_("the choices repeat a value."))
    return tuple(choices)


def _check_json_schema(value: Any, problems: _Problems, budget: PatternBudget | None) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError as JsonSchemaError

    if not isinstance(value, dict | bool):
        problems.add(_("“schema” must be a JSON Schema (an object)."))
        return
    # Before anything walks it: jsonschema's own check recurses a few frames per level (and
    # compiles "format: regex" patterns on the way), as do validation and our walks below.
    if nests_deeper_than(value, MAX_SCHEMA_DEPTH):
        problems.add(_("“schema” nests more than %(limit)s levels deep."), limit=MAX_SCHEMA_DEPTH)
        return
    try:
        Draft202012Validator.check_schema(value)
    except JsonSchemaError as exc:
        problems.add(_("“schema” is not a valid JSON Schema: %(problem)s"), problem=exc.message)
        return
    _check_json_schema_refs(value, problems)
    _check_json_schema_patterns(value, problems, budget)
    keys = _schema_keys(value)
    if {"unevaluatedProperties", "patternProperties"} <= keys:
        # Only this pair would check patterns without our time limit (see schema/regexes.py).
        problems.add(_("“schema” can't use “unevaluatedProperties” together with “patternProperties”."))


def _schema_keys(value: Any) -> set[str]:
    if isinstance(value, list):
        return set().union(*map(_schema_keys, value)) if value else set()
    if not isinstance(value, dict):
        return set()
    keys = set(value)
    for key, item in value.items():
        if key not in SCHEMA_DATA_KEYS:
            keys |= _schema_keys(item)
    return keys


def _schema_patterns(value: Any) -> list[str]:
    """Every regular expression in a JSON Schema: ``pattern`` values and the keys of
    ``patternProperties``, wherever they are nested."""
    if isinstance(value, list):
        return [pattern for item in value for pattern in _schema_patterns(item)]
    if not isinstance(value, dict):
        return []
    patterns = [value["pattern"]] if isinstance(value.get("pattern"), str) else []
    if isinstance(value.get("patternProperties"), dict):
        patterns += list(value["patternProperties"])
    for key, item in value.items():
        if key not in SCHEMA_DATA_KEYS:
            patterns += _schema_patterns(item)
    return patterns


def _unusable(pattern: str) -> bool:
    """Over the size limits, or refused by regex (saved when only re checked patterns).
    Within the size limits a compile here is small: it is what the form does next."""
    if pattern_problem(pattern):
        return True
    try:
        regex.compile(pattern, cache_pattern=False)
    except regex.error:
        return True
    return False


def without_oversized_patterns(value: Any) -> Any:
    """A stored schema with each pattern over the limits (saved before they existed) or
    that regex refuses replaced by one that matches nothing: its form refuses every value
    instead of compiling a gigabyte or failing, and the author's next save is told why."""
    if isinstance(value, list):
        return [without_oversized_patterns(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {}
    for key, item in value.items():
        if key == "pattern" and isinstance(item, str) and _unusable(item):
            item = NEVER_MATCHES
        elif key == "patternProperties" and isinstance(item, dict):
            item = {
                (NEVER_MATCHES if _unusable(name) else name): without_oversized_patterns(sub)
                for name, sub in item.items()
            }
        elif key not in SCHEMA_DATA_KEYS:
            item = without_oversized_patterns(item)
        result[key] = item
    return result


def _check_json_schema_patterns(value: Any, problems: _Problems, budget: PatternBudget | None) -> None:
    """The patterns run with regex (schema/regexes.py): checked as the parameter's own are."""
    patterns = list(dict.fromkeys(_schema_patterns(value)))
    problem = next(filter(None, map(pattern_problem, patterns)), None)
    if problem is None and budget is not None:
        problem = budget.compile_problem(patterns)
    if problem:
        problems.add(_("“schema” has a pattern that can't be used: %(problem)s"), problem=problem)


def _schema_refs(value: Any) -> list[str]:
    """Every ``$ref`` and ``$dynamicRef`` in a JSON Schema, wherever it is nested."""
    if isinstance(value, list):
        return [ref for item in value for ref in _schema_refs(item)]
    if not isinstance(value, dict):
        return []
    refs = [value[key] for key in ("$ref", "$dynamicRef") if isinstance(value.get(key), str)]
    for key, item in value.items():
        if key not in SCHEMA_DATA_KEYS:
            refs += _schema_refs(item)
    return refs


def _check_json_schema_refs(value: Any, problems: _Problems) -> None:
    """A reference that can't be followed would fail every submitted value (with a 500):
    only references within the schema are allowed, and each must lead somewhere."""
    from referencing import Registry
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    base = "urn:promptlab:schema"
    resolver = Registry().with_resource(base, DRAFT202012.create_resource(value)).resolver(base_uri=base)
    known_before = len(problems.errors)
    for ref in _schema_refs(value):
        if not ref.startswith("#"):
            problems.add(
                _("“schema” may only refer to its own parts (“$ref” starting with #), not to “%(ref)s”."),
                ref=ref,
            )
            continue
        try:
            resolver.lookup(ref)
        except Unresolvable:
            problems.add(_("“schema” refers to “%(ref)s”, which it doesn't contain."), ref=ref)
    if len(problems.errors) == known_before and (
        ref := endless_reference(value, lambda ref: resolver.lookup(ref).contents)
    ):
        problems.add(
            _(
                "“schema” refers to itself through “%(ref)s” without going into a part of the value, "
                "so checking any value would never end."
            ),
            ref=ref,
        )


def _parse_extensions(raw: Any, problems: _Problems) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(
        isinstance(item, str) and EXTENSION_PATTERN.match(item.lower()) for item in raw
    ):
        problems.add(_('“extensions” must be a list such as [".txt", ".md"].'))
        return ()
    return tuple(dict.fromkeys(item.lower() for item in raw))


def _check_default(parameter: Parameter, problems: _Problems) -> None:
    """The default must pass the very field that will validate a person's input."""
    if parameter.type == "boolean":
        if not isinstance(parameter.default, bool):
            problems.add(_("the default must be true or false."))
        return
    if parameter.type == "choice" and parameter.default not in [c.value for c in parameter.choices]:
        problems.add(_("the default %(default)r is not one of the choices."), default=parameter.default)
        return
    field = parameter.to_form_field("en")
    try:
        field.clean(parameter.form_data(parameter.default, field))
    except ValidationError as exc:
        problems.add(
            _("the default %(default)r breaks its own constraints (%(problem)s)"),
            default=parameter.default,
            problem=" ".join(exc.messages),
        )
    else:
        if parameter.default == "" or parameter.default == []:
            return
        if parameter.type in TEXT_LIKE and not isinstance(parameter.default, str):
            problems.add(_("the default must be a text."))
