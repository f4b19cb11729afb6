"""The json type: any JSON value, checked against the author's own JSON Schema, if any.

An author's schema runs on every submitted value, so it is checked on save for what
would make that unsafe or always fail: nesting, references that lead nowhere or
loop without end, and patterns over the limits of schema/regexes.py."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

import regex
from django import forms
from django.utils.translation import gettext as _

from promptlab.safe_load import nests_deeper_than

from .. import fields as schema_fields
from ..json_refs import SCHEMA_DATA_KEYS, endless_reference
from ..regexes import NEVER_MATCHES, PatternBudget, pattern_problem
from .base import GIVEN_JSON_TYPES, ParameterType, Problems

if TYPE_CHECKING:
    from ..parameters import Parameter

# Levels of lists and objects in a json parameter's schema: far more than real schemas use,
# and far enough from Python's recursion limit for jsonschema's recursive walks in a web thread.
MAX_SCHEMA_DEPTH = 50
# The JSON Schema keywords a file format's property may use to describe a JSON value.
_VALUE_SCHEMA_KEYS = frozenset(
    {
        "items", "properties", "required", "additionalProperties", "minItems", "maxItems", "uniqueItems",
        "minProperties", "maxProperties", "patternProperties",
    }
)  # fmt: skip


class JsonType(ParameterType):
    name = "json"
    keys = frozenset({"schema"})
    fields: ClassVar[dict[str, Any]] = {"value_schema": None}
    shows_placeholder = True
    widget_attrs: ClassVar[dict[str, str]] = {
        "rows": "6",
        "spellcheck": "false",
        "class": "code",
        "autocapitalize": "off",
    }
    claim_order = 3  # what no other type claims
    property_is_a_schema = True

    def parse(self, raw: dict[str, Any], problems: Problems, budget: PatternBudget | None) -> dict[str, Any]:
        if "schema" in raw:
            check_json_schema(raw["schema"], problems, budget)
        return {"value_schema": raw.get("schema")}

    def initial(self, parameter: Parameter) -> Any:
        return None if parameter.default is None else json.dumps(parameter.default, ensure_ascii=False)

    def form_field(
        self, parameter: Parameter, attrs: dict[str, str], common: dict[str, Any], language: str | None
    ) -> forms.Field:
        return schema_fields.JsonValueField(
            json_schema=parameter.value_schema, widget=forms.Textarea(attrs), **common
        )

    def form_data(self, parameter: Parameter, value: Any, field: forms.Field) -> Any:
        return "" if value is None else json.dumps(value, ensure_ascii=False)

    def json_schema(self, parameter: Parameter) -> dict[str, Any]:
        # Every JSON type but null ("not given"), then the author's schema, kept whole
        # (its own references point into it).
        schema: dict[str, Any] = {"type": GIVEN_JSON_TYPES + (["null"] if parameter.optional else [])}
        if parameter.value_schema is not None:
            if parameter.optional:
                schema["anyOf"] = [{"type": "null"}, parameter.value_schema]
            else:
                schema["allOf"] = [parameter.value_schema]
        return schema

    def to_property(self, parameter: dict[str, Any], lost: Any) -> dict[str, Any]:
        schema = parameter.get("schema")
        if isinstance(schema, dict) and schema:
            return {
                key: value for key, value in schema.items() if key not in ("title", "description", "default")
            }
        lost(_("it accepts any JSON value; written as an object"))
        return {"type": "object"}

    def claims(self, schema_type: Any, prop: dict[str, Any]) -> bool:
        return True  # arrays of free values, objects, and "any": a JSON value

    def from_property(
        self, prop: dict[str, Any], parameter: dict[str, Any], warnings: list[str], where: str
    ) -> bool:
        schema = {key: prop.pop(key) for key in list(prop) if key in _VALUE_SCHEMA_KEYS}
        if prop.get("type") in ("array", "object"):  # the caller's reading of the type
            schema = {"type": prop["type"], **schema}
        if schema:
            parameter["schema"] = schema
        return False

    def sample(self, parameter: Parameter) -> Any:
        return {}


def check_json_schema(value: Any, problems: Problems, budget: PatternBudget | None) -> None:
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


def _check_json_schema_patterns(value: Any, problems: Problems, budget: PatternBudget | None) -> None:
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


def _check_json_schema_refs(value: Any, problems: Problems) -> None:
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
