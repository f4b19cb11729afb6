"""One schema, one rule, enforced identically: property-based parity.

Hypothesis generates parameter schemas and the values a person could enter.
For each value, four judges must agree on "valid or not":

- the browser's own constraint validation (``element.checkValidity()`` in
  headless Chromium, on the HTML the server renders for the schema);
- the server's Django form, given what the browser would submit;
- the JSON Schema the API publishes, checked by the ``jsonschema`` library on the
  value as JSON (numbers as decimals, so ``multipleOf`` 0.1 is exact);
- the API's own validation (``validate_json``), on the same JSON value.

The browser judges what it can: ``multichoice`` counts, ``json`` content and
``file`` size/extension have no HTML constraint (docs/schema.md lists these
exceptions); for them a second test checks the form, the API and JSON Schema.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from django.utils import translation
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from templates_app.schema import ParameterSchema, SchemaError

pytestmark = pytest.mark.browser

EXAMPLES = settings(
    max_examples=35,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ALPHABET = "abcdgostxyzABCZ0189-_. @/:á\n"
PATTERNS = ["[a-z]+", "[A-Z]{3}-[0-9]{1,4}", "(cat|dog)s?", "[0-9]*", "a.c", "[^ ]+", ".*x.*"]
EMAILS = [
    "ana@example.com",
    "ana@example",
    "a.b+c@mail.example.org",
    "ana",
    "ana@",
    "@x.com",
    "a@-b.com",
    "é@x.com",
]
URLS = [
    "https://example.com",
    "http://localhost:8000/a?b=c#d",
    "https://a.b-c.example/x%20y",
    "example.com",
    "ftp://example.com",
    "https://",
    "https://1.2.3.4/",
    "https://exa_mple.com",
    "mailto:ana@example.com",
]
NUMBER_TEXTS = ["", "abc", " 5", ".5", "5.", "+5", "-0", "1e2", "2.50", "1e-2", "0.30", "007"]


# --- Strategies -------------------------------------------------------------------


@st.composite
def lengths(draw: Any, parameter: dict[str, Any]) -> dict[str, Any]:
    low = draw(st.none() | st.integers(0, 6))
    high = draw(st.none() | st.integers(low or 0, 10))
    if low is not None:
        parameter["min_length"] = low
    if high is not None:
        parameter["max_length"] = high
    return parameter


@st.composite
def browser_parameters(draw: Any, name: str) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(["string", "text", "email", "url", "integer", "number", "date", "choice", "boolean"])
    )
    parameter: dict[str, Any] = {"name": name, "type": kind, "required": draw(st.booleans())}
    if kind in ("string", "text", "email", "url"):
        draw(lengths(parameter))
    if kind in ("string", "email", "url") and draw(st.booleans()):
        parameter["pattern"] = draw(
            st.sampled_from(PATTERNS if kind == "string" else [".*x.*", "[^ ]+", ".{3,}"])
        )
    if kind in ("integer", "number"):
        step = draw(
            st.none()
            | (st.integers(1, 5) if kind == "integer" else st.sampled_from([0.1, 0.25, 0.5, 1, 2, 0.01]))
        )
        low = draw(st.none() | st.integers(-20, 20))
        high = draw(st.none() | st.integers(-20, 40))
        if step:
            parameter["step"] = step
            if low is not None:
                low = int(Decimal(low) - Decimal(low) % Decimal(str(step)))
        if low is not None:
            parameter["min"] = low
        if high is not None:
            parameter["max"] = high
    if kind == "date":
        for key in ("min", "max"):
            if draw(st.booleans()):
                parameter[key] = draw(st.dates(min_value=_date(2000), max_value=_date(2040))).isoformat()
    if kind == "choice":
        count = draw(st.integers(1, 8))
        parameter["choices"] = [f"c{i}" for i in range(count)]
        parameter["widget"] = draw(st.sampled_from([None, "radio", "select"]))
        if parameter["widget"] is None:
            del parameter["widget"]
        if draw(st.booleans()):
            parameter["default"] = draw(st.sampled_from(parameter["choices"]))
    return parameter


def _date(year: int) -> Any:
    from datetime import date

    return date(year, 1, 1)


def raw_values(parameter: dict[str, Any]) -> st.SearchStrategy[Any]:
    """What a person could enter into the control."""
    kind = parameter["type"]
    text = st.text(alphabet=ALPHABET, max_size=12)
    if kind in ("string", "text"):
        samples = (
            st.from_regex(parameter["pattern"], fullmatch=True, alphabet=ALPHABET)
            if "pattern" in parameter
            else text
        )
        return samples | text
    if kind == "email":
        return st.sampled_from(EMAILS) | text
    if kind == "url":
        return st.sampled_from(URLS) | text
    if kind in ("integer", "number"):
        numeric = st.from_regex(r"-?[0-9]{1,3}(\.[0-9]{1,3})?(e-?[0-9])?", fullmatch=True)
        return numeric | st.sampled_from(NUMBER_TEXTS)
    if kind == "date":
        dates = st.dates(min_value=_date(1990), max_value=_date(2050)).map(lambda d: d.isoformat())
        return dates | st.sampled_from(["", "2024-02-30", "24-01-01", "2024-13-01", "2024-1-5"])
    if kind == "choice":
        return st.sampled_from([None, *parameter["choices"]])
    return st.booleans()


@st.composite
def schemas_and_values(draw: Any) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    count = draw(st.integers(1, 4))
    parameters = [draw(browser_parameters(f"p{i}")) for i in range(count)]
    try:
        ParameterSchema.parse(parameters)
    except SchemaError:
        assume(False)
    rounds = [[draw(raw_values(p)) for p in parameters] for _round in range(3)]
    return parameters, rounds


# --- The judges ---------------------------------------------------------------------


def decimal_json(value: Any) -> Any:
    """JSON as a decimal-aware client reads it: 0.3 is exactly three tenths."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def json_value(parameter: dict[str, Any], submitted: Any) -> Any:
    """The submitted browser value as the JSON an API client would send."""
    kind = parameter["type"]
    if kind in ("integer", "number"):
        if submitted == "":
            return None
        try:
            number = Decimal(submitted)
        except InvalidOperation:
            return submitted
        if kind == "integer" and number == number.to_integral_value():
            return int(number)
        return number
    return submitted


def api_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


def json_schema_accepts(schema: dict[str, Any], name: str, value: Any) -> bool:
    """The parameter's own schema; a control left empty is sent as null."""
    validator = Draft202012Validator(decimal_json(schema["properties"][name]), format_checker=FormatChecker())
    return validator.is_valid(value)


@pytest.fixture(scope="module")
def form_page(browser: Any) -> Any:
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


SET_VALUE = """([name, kind, value]) => {
    const form = document.querySelector('form');
    const controls = [...form.querySelectorAll(`[name="${name}"]`)];
    if (kind === 'choice' && controls[0].type === 'radio') {
        controls.forEach(c => { c.checked = c.value === value; });
    } else if (kind === 'boolean') {
        controls[0].checked = value;
    } else {
        controls[0].value = value ?? '';
    }
}"""
READ_STATE = """(names) => names.map(name => {
    const controls = [...document.querySelectorAll(`[name="${name}"]`)];
    const first = controls[0];
    let submitted;
    if (first.type === 'radio') submitted = (controls.find(c => c.checked) || {}).value ?? null;
    else if (first.type === 'checkbox') submitted = first.checked;
    else submitted = first.value;
    return {submitted, valid: controls.every(c => c.checkValidity())};
})"""


def render_form(parameters: list[dict[str, Any]]) -> tuple[type, str]:
    form_class = ParameterSchema.parse(parameters).form_class("en")
    from django.template.loader import render_to_string

    html = render_to_string("includes/parameter_fields.html", {"form": form_class()})
    return form_class, f"<!DOCTYPE html><html lang=en><body><form novalidate>{html}</form></body></html>"


@given(schemas_and_values())
@EXAMPLES
def test_browser_form_json_schema_and_api_agree(form_page: Any, case: Any) -> None:
    parameters, rounds = case
    with translation.override("en"):
        form_class, html = render_form(parameters)
        schema = ParameterSchema.parse(parameters).json_schema()
        form_page.set_content(html)
        names = [p["name"] for p in parameters]
        for values in rounds:
            for parameter, value in zip(parameters, values, strict=True):
                if parameter["type"] in ("string", "text", "email", "url"):
                    # Typed as a person types (maxlength and minlength apply to user edits).
                    form_page.fill(f'[name="{parameter["name"]}"]', value)
                else:
                    form_page.evaluate(SET_VALUE, [parameter["name"], parameter["type"], value])
            states = form_page.evaluate(READ_STATE, names)
            data: dict[str, Any] = {}
            for parameter, state in zip(parameters, states, strict=True):
                submitted = state["submitted"]
                if parameter["type"] == "text":
                    submitted = submitted.replace("\n", "\r\n")  # as a browser submits a textarea
                if parameter["type"] == "boolean":
                    if submitted:
                        data[parameter["name"]] = "on"
                elif submitted is not None:
                    data[parameter["name"]] = submitted
            form = form_class(data)
            form.is_valid()
            for parameter, state in zip(parameters, states, strict=True):
                name = parameter["name"]
                value = json_value(parameter, state["submitted"])
                verdicts = {
                    "browser": state["valid"],
                    "form": name not in form.errors,
                    "json_schema": json_schema_accepts(schema, name, value),
                    "api": name not in form_class.validate_json({name: api_json(value)})[1],
                }
                assert len(set(verdicts.values())) == 1, (
                    parameter,
                    state["submitted"],
                    verdicts,
                    form.errors.get(name),
                )


# --- What the browser can't judge: form, API and JSON Schema -------------------------

JSON_SCHEMAS = [
    None,
    {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}},
    {"type": ["string", "number"]},
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(alphabet="ab", max_size=3),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.sampled_from("ab"), children, max_size=2)
    ),
    max_leaves=6,
)


@st.composite
def server_only_cases(draw: Any) -> tuple[dict[str, Any], Any]:
    kind = draw(st.sampled_from(["multichoice", "json", "file", "choice"]))
    parameter: dict[str, Any] = {"name": "p", "type": kind, "required": draw(st.booleans())}
    if kind in ("multichoice", "choice"):
        parameter["choices"] = ["a", "b", "c"]
        if kind == "multichoice":
            low = draw(st.none() | st.integers(0, 3))
            high = draw(st.none() | st.integers(low or 0, 3))
            parameter.update({k: v for k, v in (("min_items", low), ("max_items", high)) if v is not None})
            value = draw(st.none() | st.lists(st.sampled_from(["a", "b", "c", "z"]), max_size=4))
        else:
            value = draw(st.none() | st.sampled_from(["a", "b", "z", ""]) | st.integers(0, 2))
    elif kind == "json":
        if (chosen := draw(st.sampled_from(JSON_SCHEMAS))) is not None:
            parameter["schema"] = chosen
        value = draw(json_values)
    else:
        parameter["max_size"] = draw(st.integers(1, 8))
        value = draw(st.none() | st.text(alphabet="ab\n", max_size=10) | st.integers(0, 3))
    return parameter, value


@given(server_only_cases())
@EXAMPLES
def test_form_api_and_json_schema_agree_where_html_has_no_constraint(case: Any) -> None:
    parameter, value = case
    schema = ParameterSchema.parse([parameter])
    form_class = schema.form_class("en")
    api_valid = "p" not in form_class.validate_json({"p": value})[1]
    validator = Draft202012Validator(schema.json_schema(), format_checker=FormatChecker())
    assert api_valid == validator.is_valid({"p": value}), (parameter, value)
    if isinstance(value, str | list) and parameter["type"] != "json":
        data = {"p": value} if value not in ("", []) else {}
        assert ("p" not in form_class(data).errors) == api_valid, (parameter, value)
