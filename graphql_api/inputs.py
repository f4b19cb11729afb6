"""A typed GraphQL input type per template, derived from its parameter schema.

Nothing here restates a constraint. The input type is read off the JSON Schema that
``templates_app.schema`` derives from the parameter schema (the same document the REST
API publishes): a property's JSON type picks the GraphQL type, ``null`` among its types
makes the field nullable, the schema's ``required`` makes it required (no default), an
``enum`` becomes a GraphQL enum and ``default`` the field's default. What GraphQL's
types can't say (lengths, bounds, patterns) is checked where it always is: by the
template's form class, which validates what the typed field receives exactly as it
validates the REST API's JSON and the browser's form.
Texts (descriptions) come from the parameters' labels, help and choice labels, in the
request's language.
"""

from __future__ import annotations

import copy
import datetime
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.scalars import JSON

from templates_app.models import TemplateVersion
from templates_app.schema import Parameter, localize

# GraphQL names: letters, digits and underscores, not starting with a digit.
_NOT_NAME = re.compile(r"[^_0-9A-Za-z]")
# Enum values GraphQL reserves.
_RESERVED_VALUES = frozenset({"true", "false", "null"})
# A JSON Schema type (one, "null" aside) and format → the GraphQL scalar that carries it.
SCALARS: dict[tuple[str, str | None], Any] = {
    ("string", None): str,
    ("string", "date"): datetime.date,
    ("integer", None): int,
    ("number", None): float,
    ("boolean", None): bool,
}


def pascal_case(text: str) -> str:
    """``product-description`` → ``ProductDescription``: a GraphQL type name's stem."""
    stem = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", text) if part)
    return f"T{stem}" if not stem or stem[0].isdigit() else stem


def enum_value_name(value: str, taken: set[str]) -> str:
    """A choice's value as a GraphQL enum value: itself where GraphQL allows it (so that
    a client sends the value the REST API takes), else made into a name, unique."""
    name = _NOT_NAME.sub("_", value)
    if not name or name[0].isdigit() or name.startswith("_") or name in _RESERVED_VALUES:
        name = f"v_{name}"  # (not a bare "_": Python's Enum keeps _names_ for itself)
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


@dataclass(frozen=True)
class InputField:
    """One parameter's field on the input type: its GraphQL name, Python annotation, the
    strawberry field (default, description), and how to turn a value back into JSON."""

    name: str
    annotation: Any
    field: Any
    to_json: Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _value_type(
    prop: dict[str, Any], parameter: Parameter, type_name: str, language: str
) -> tuple[Any, Callable[[Any], Any], Callable[[Any], Any]]:
    """(annotation, JSON → GraphQL default, GraphQL value → JSON) of a property's value."""
    types = prop.get("type")
    given = [t for t in (types if isinstance(types, list) else [types]) if t != "null"]
    if "enum" in prop:
        values = [v for v in prop["enum"] if isinstance(v, str) and v != ""]
        kind = _enum(f"{type_name}{pascal_case(parameter.name)}Choice", values, parameter, language)
        return kind, lambda value: kind(value), lambda value: value.value
    if given == ["array"] and "enum" in prop.get("items", {}):
        items = [v for v in prop["items"]["enum"] if isinstance(v, str)]
        kind = _enum(f"{type_name}{pascal_case(parameter.name)}Choice", items, parameter, language)
        return (
            list[kind],  # type: ignore[valid-type]
            lambda value: [kind(item) for item in value],
            lambda value: [item.value for item in value],
        )
    # An optional parameter's format sits in the alternative to its empty value.
    formats = [prop.get("format"), *(alt.get("format") for alt in prop.get("anyOf", []))]
    known = next((f for f in formats if (given[0] if given else None, f) in SCALARS and f), None)
    if len(given) == 1 and (given[0], known) in SCALARS:
        scalar = SCALARS[(given[0], known)]
        if scalar is datetime.date:
            return scalar, datetime.date.fromisoformat, lambda value: value.isoformat()
        return scalar, _identity, _identity
    if len(given) == 1 and given[0] in {"string", "integer", "number", "boolean"}:
        return SCALARS[(given[0], None)], _identity, _identity  # a format GraphQL has no scalar for
    return JSON, _identity, _identity  # a json parameter: any JSON value its own schema allows


def _enum(name: str, values: list[str], parameter: Parameter, language: str) -> type[enum.Enum]:
    labels = {choice.value: localize(choice.label, language) for choice in parameter.choices}
    labels = {value: label for value, label in labels.items() if label != value}  # no "a": "a"
    taken: set[str] = set()
    members = {
        enum_value_name(value, taken): strawberry.enum_value(value, description=labels.get(value) or None)
        for value in values
    }
    kind = enum.Enum(name, members)  # type: ignore[misc]
    return strawberry.enum(kind, name=name, description=localize(parameter.label, language))


def _description(parameter: Parameter, language: str) -> str:
    label, help_text = localize(parameter.label, language), localize(parameter.help, language)
    return f"{label}. {help_text}" if help_text and label else (label or help_text)


def input_fields(version: TemplateVersion, type_name: str, language: str) -> list[InputField]:
    """The input type's fields, one per parameter a person fills, in the form's order."""
    schema = version.schema
    document = schema.json_schema()
    required = set(document["required"])
    fields: list[InputField] = []
    for parameter in schema.visible:
        prop = document["properties"][parameter.name]
        value_type, to_default, to_json = _value_type(prop, parameter, type_name, language)
        types = prop.get("type")
        nullable = "null" in (types if isinstance(types, list) else [types]) or types is None
        # GraphQL can't write a JSON scalar's default: such a field may be left out (or null),
        # and the form's default applies.
        nullable = nullable or (value_type is JSON and "default" in prop)
        annotation = value_type | None if nullable else value_type
        options: dict[str, Any] = {
            "name": parameter.name,
            "description": _description(parameter, language) or None,
        }
        if parameter.name in required:
            pass  # no default: the client must give it
        elif "default" in prop and value_type is not JSON:  # GraphQL can't write a JSON scalar's default
            default = to_default(prop["default"])
            if isinstance(default, list):
                options["default_factory"] = lambda default=default: copy.deepcopy(default)
            else:
                options["default"] = default
        else:
            options["default"] = strawberry.UNSET  # may be left out: the form decides what that means
        fields.append(InputField(parameter.name, annotation, strawberry.field(**options), to_json))
    return fields


def input_type(version: TemplateVersion, type_name: str, language: str) -> tuple[type, Callable[[Any], dict]]:
    """The strawberry input class ``<type_name>Input`` for a version, and the function that
    turns a value of it back into the JSON inputs the form class validates."""
    fields = input_fields(version, type_name, language)
    # Python attribute names of our own: a parameter's name need not be one.
    attributes = {f"p{index}": field for index, field in enumerate(fields)}
    namespace: dict[str, Any] = {
        "__annotations__": {attr: field.annotation for attr, field in attributes.items()},
        **{attr: field.field for attr, field in attributes.items()},
        "__module__": __name__,
    }
    name = f"{type_name}Input"
    cls = strawberry.input(type(name, (), namespace), name=name)

    def to_inputs(value: Any) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for attr, field in attributes.items():
            item = getattr(value, attr)
            if item is strawberry.UNSET:
                continue
            inputs[field.name] = None if item is None else field.to_json(item)
        return inputs

    return cls, to_inputs
