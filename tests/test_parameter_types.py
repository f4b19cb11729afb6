"""One class per parameter type: what every type gives, and the JSON Schema's flat shape.

The published JSON Schema states each property's type (with ``null`` when the
parameter is optional), format and bounds side by side, so a consumer that reads only
the top level of a property (an OpenAPI generator, a form renderer, an LLM tool
definition) reads the rule; the keywords an empty field's "" would fail sit in one
``anyOf`` with that empty value. The file formats write the same keywords.
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from templates_app.formats.properties import ExportContext, parameter_from_property, property_from_parameter
from templates_app.schema import PARAMETER_TYPES, ParameterSchema
from templates_app.schema.parameters import DEFAULT_MAX_SIZE

# The least each type needs to parse.
MINIMAL: dict[str, dict[str, Any]] = {
    "choice": {"choices": ["a", "b"]},
    "multichoice": {"choices": ["a", "b"]},
}
# Each type with every bound it takes, and a JSON Schema keyword each must show at the top.
BOUNDED: dict[str, tuple[dict[str, Any], set[str]]] = {
    "string": ({"max_length": 9, "pattern": "[a-z]+"}, {"maxLength", "pattern"}),
    "text": ({"max_length": 9}, {"maxLength"}),
    "email": ({"max_length": 30}, {"maxLength", "pattern"}),
    "url": ({"max_length": 30}, {"maxLength", "pattern"}),
    "integer": ({"min": 2, "max": 8, "step": 2}, {"minimum", "maximum", "multipleOf"}),
    "number": ({"min": 0.5, "max": 8}, {"minimum", "maximum"}),
    "boolean": ({}, set()),
    "choice": ({"choices": ["a", "b"]}, {"enum"}),
    "multichoice": ({"choices": ["a", "b"], "max_items": 1}, {"items", "uniqueItems", "maxItems"}),
    "date": ({"min": "2024-01-01", "max": "2024-12-31"}, {"pattern"}),
    "json": ({}, set()),
    "file": ({"max_size": 10}, {"maxLength", "contentMediaType"}),
}
JSON_TYPE = {
    "string": "string",
    "text": "string",
    "email": "string",
    "url": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "choice": "string",
    "multichoice": "array",
    "date": "string",
    "file": "string",
}


def property_of(parameter: dict[str, Any]) -> dict[str, Any]:
    return ParameterSchema.parse([parameter]).json_schema()["properties"][parameter["name"]]


def accepts(parameter: dict[str, Any], value: Any) -> bool:
    schema = ParameterSchema.parse([parameter]).json_schema()
    return Draft202012Validator(schema, format_checker=FormatChecker()).is_valid({parameter["name"]: value})


def test_every_type_the_docs_list_has_bounds_here() -> None:
    assert set(BOUNDED) == set(PARAMETER_TYPES)


@pytest.mark.parametrize("kind", PARAMETER_TYPES)
@pytest.mark.parametrize("required", [True, False])
def test_each_property_states_its_type_and_bounds_at_the_top(kind: str, required: bool) -> None:
    bounds, keywords = BOUNDED[kind]
    prop = property_of({"name": "p", "type": kind, "required": required, **bounds})
    optional = not required or kind == "boolean"
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    assert ("null" in types) == optional
    if kind in JSON_TYPE:
        assert [t for t in types if t != "null"] == [JSON_TYPE[kind]]
    else:  # json: any given value
        assert "null" not in types or optional
    assert keywords <= set(prop), keywords - set(prop)
    assert "not" not in prop


@pytest.mark.parametrize(
    ("kind", "format_"), [("email", "email"), ("url", "uri"), ("date", "date"), ("string", None)]
)
def test_a_required_property_has_its_format_at_the_top(kind: str, format_: str | None) -> None:
    assert property_of({"name": "p", "type": kind}).get("format") == format_


def test_an_optional_email_takes_empty_or_null_but_a_given_one_meets_every_rule() -> None:
    parameter = {"name": "p", "type": "email", "required": False, "min_length": 8, "pattern": ".*x.*"}
    verdicts = {
        value: accepts(parameter, value)
        for value in ("", None, "x@ex.com", "ana@ab.com", "a@x.co", "not-an-address-x")
    }
    assert verdicts == {
        "": True,
        None: True,
        "x@ex.com": True,
        "ana@ab.com": False,  # no x
        "a@x.co": False,  # too short
        "not-an-address-x": False,
    }


def test_a_required_multichoice_needs_one_and_an_optional_one_takes_none_or_enough() -> None:
    required = {"name": "p", "type": "multichoice", "choices": ["a", "b", "c"]}
    optional = {**required, "required": False, "min_items": 2}
    assert [accepts(required, value) for value in ([], ["a"], None)] == [False, True, False]
    assert [accepts(optional, value) for value in ([], None, ["a"], ["a", "b"])] == [True, True, False, True]


def test_an_optional_choice_lists_its_empty_values_beside_the_choices() -> None:
    prop = property_of({"name": "p", "type": "choice", "choices": ["a"], "required": False})
    assert prop["type"] == ["string", "null"] and prop["enum"] == ["a", "", None]


def test_a_json_parameter_keeps_its_own_schema_whole_and_refuses_null_when_required() -> None:
    value_schema = {"type": "array", "maxItems": 1}
    required = {"name": "p", "type": "json", "schema": value_schema}
    optional = {**required, "required": False}
    assert property_of(required)["allOf"] == [value_schema]
    assert [accepts(required, value) for value in (None, [1], [1, 2], "x")] == [False, True, False, False]
    assert [accepts(optional, value) for value in (None, [1], [1, 2])] == [True, True, False]


@pytest.mark.parametrize("kind", PARAMETER_TYPES)
def test_each_types_sample_value_passes_its_own_form_and_json_schema(kind: str) -> None:
    bounds, _keywords = BOUNDED[kind]
    schema = ParameterSchema.parse([{"name": "p", "type": kind, **MINIMAL.get(kind, {}), **bounds}])
    sample = schema.sample_inputs()["p"]
    assert schema.form_class("en").validate_json({"p": sample})[1] == {}, sample
    assert Draft202012Validator(schema.json_schema(), format_checker=FormatChecker()).is_valid({"p": sample})


@pytest.mark.django_db
@pytest.mark.parametrize("kind", PARAMETER_TYPES)
def test_a_file_format_writes_the_keywords_the_api_publishes_and_reads_them_back(kind: str) -> None:
    """One mapping: a file's property names each bound as the API's schema does, and
    reading the property gives the parameter back (a file has no multi-line text or
    file upload: those come back as strings)."""
    bounds, _keywords = BOUNDED[kind]
    parameter = {"name": "p", "type": kind, **MINIMAL.get(kind, {}), **bounds, "required": True}
    written = property_from_parameter(parameter, ExportContext("Test"))
    published = property_of(parameter)
    flat = {key for key in published if key != "anyOf"} | {
        k for alt in published.get("anyOf", []) for k in alt
    }
    same_words = set(written) - {"type", "format", "pattern"} - ({"allOf"} if kind == "json" else set())
    if kind != "json":
        assert same_words <= flat, same_words - flat
    read = parameter_from_property("p", written, required=True, warnings=[], source="Test")
    expected = {**parameter, "type": {"text": "string", "file": "string"}.get(kind, kind)}
    if kind == "json":
        expected.pop("schema", None)
        read.pop("schema", None)
    if kind == "file":
        expected.pop("max_size")
    assert read == expected


def test_a_parameter_carries_its_own_types_values_only() -> None:
    """Each type's values (and their defaults) are the type's ``fields``: a new type adds its
    own without touching ``Parameter``, and a value of another type's is no attribute."""
    upload, code = ParameterSchema.parse(
        [{"name": "upload", "type": "file"}, {"name": "code", "type": "string", "max_length": 8}]
    ).parameters
    assert (upload.max_size, upload.extensions) == (DEFAULT_MAX_SIZE, ())
    assert (code.max_length, code.min_length, code.pattern_message) == (8, None, "")
    with pytest.raises(AttributeError, match="min_length"):
        upload.min_length  # noqa: B018
    with pytest.raises(AttributeError, match="max_size"):
        code.max_size  # noqa: B018
