from __future__ import annotations

import pytest
from django import forms
from django.utils import translation

from templates_app.schema import ParameterSchema, SchemaError, localize


def form_for(parameters: list[dict], data: dict | None = None, language: str = "en") -> forms.Form:
    return ParameterSchema.parse(parameters).form_class(language)(data)


def rendered(form: forms.Form, name: str) -> str:
    return str(form[name])


@pytest.mark.parametrize(
    ("parameter", "field_class", "widget_fragment"),
    [
        ({"name": "a", "type": "string"}, forms.CharField, 'type="text"'),
        ({"name": "a", "type": "text"}, forms.CharField, "<textarea"),
        ({"name": "a", "type": "integer"}, forms.IntegerField, 'type="number"'),
        ({"name": "a", "type": "number"}, forms.FloatField, 'step="any"'),
        ({"name": "a", "type": "boolean"}, forms.BooleanField, 'type="checkbox"'),
        ({"name": "a", "type": "choice", "choices": ["x", "y"]}, forms.ChoiceField, 'type="radio"'),
    ],
)
def test_every_type_becomes_its_form_field(parameter: dict, field_class: type, widget_fragment: str) -> None:
    form = form_for([parameter])
    assert isinstance(form.fields["a"], field_class)
    assert widget_fragment in rendered(form, "a")


def test_string_is_the_default_type_and_required_by_default() -> None:
    form = form_for([{"name": "topic"}])
    assert isinstance(form.fields["topic"], forms.CharField)
    assert form.fields["topic"].required
    assert "required" in rendered(form, "topic")


def test_length_constraints_are_enforced_and_become_html_attributes() -> None:
    parameters = [{"name": "s", "type": "string", "min_length": 2, "max_length": 4}]
    html = rendered(form_for(parameters), "s")
    assert 'minlength="2"' in html and 'maxlength="4"' in html
    assert not form_for(parameters, {"s": "a"}).is_valid()
    assert not form_for(parameters, {"s": "abcde"}).is_valid()
    assert form_for(parameters, {"s": "abc"}).is_valid()


def test_numeric_bounds_are_enforced_and_become_html_attributes() -> None:
    parameters = [
        {"name": "i", "type": "integer", "min": 1, "max": 3},
        {"name": "n", "type": "number", "min": 0, "max": 1, "step": 0.1},
    ]
    form = form_for(parameters)
    assert 'min="1"' in rendered(form, "i") and 'max="3"' in rendered(form, "i")
    assert 'step="0.1"' in rendered(form, "n")
    assert form_for(parameters, {"i": "2", "n": "0.5"}).is_valid()
    bad = form_for(parameters, {"i": "4", "n": "1.5"})
    assert not bad.is_valid()
    assert set(bad.errors) == {"i", "n"}
    assert not form_for(parameters, {"i": "2.5", "n": "0.5"}).is_valid()


def test_choice_accepts_only_its_values_and_uses_a_select_beyond_five() -> None:
    few = [{"name": "c", "type": "choice", "choices": ["a", "b"]}]
    many = [{"name": "c", "type": "choice", "choices": list("abcdef")}]
    assert form_for(few, {"c": "a"}).is_valid()
    assert not form_for(few, {"c": "z"}).is_valid()
    assert "<select" in rendered(form_for(many), "c")


def test_boolean_unticked_is_a_valid_false() -> None:
    form = form_for([{"name": "b", "type": "boolean"}], {})
    assert form.is_valid()
    assert form.cleaned_data["b"] is False


def test_optional_field_accepts_empty() -> None:
    form = form_for([{"name": "n", "type": "integer", "required": False}], {"n": ""})
    assert form.is_valid()
    assert form.cleaned_data["n"] is None


def test_defaults_become_initial_values() -> None:
    form = form_for([{"name": "n", "type": "integer", "default": 7}])
    assert 'value="7"' in rendered(form, "n")


def test_labels_help_and_choice_labels_follow_the_language() -> None:
    parameters = [
        {
            "name": "tone",
            "type": "choice",
            "label": {"en": "Tone", "pt": "Tom"},
            "help": {"en": "Pick one", "pt": "Escolha um"},
            "choices": [{"value": "warm", "label": {"en": "Warm", "pt": "Caloroso"}}],
        }
    ]
    english = form_for(parameters, language="en")
    portuguese = form_for(parameters, language="pt-br")
    assert english.fields["tone"].label == "Tone"
    assert portuguese.fields["tone"].label == "Tom"
    assert portuguese.fields["tone"].help_text == "Escolha um"
    assert "Caloroso" in rendered(portuguese, "tone")


def test_localize_falls_back_to_english_then_any() -> None:
    assert localize({"en": "Hi", "pt": "Oi"}, "pt-br") == "Oi"
    assert localize({"en": "Hi", "pt": "Oi"}, "de") == "Hi"
    assert localize({"fr": "Salut"}, "de") == "Salut"
    assert localize("plain", "pt-br") == "plain"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"name": "a"}, "list of parameters"),
        ([{"name": "a", "type": "colour"}], "unknown type “colour”"),
        ([{"name": "a", "colour": "red"}], "unknown key(s) colour"),
        ([{"name": "a"}, {"name": "a"}], "“a”: the name is used twice"),
        ([{"name": "Bad Name"}], "“name” must be"),
        ([{"name": "class"}], "“name” must be"),
        ([{"name": "a", "type": "integer", "min": 5, "max": 1}], "“a”: “min” is above “max”"),
        ([{"name": "a", "min_length": 5, "max_length": 1}], "“min_length” is above “max_length”"),
        ([{"name": "a", "type": "integer", "max": 3, "default": 9}], "“a”: the default 9 breaks"),
        ([{"name": "a", "type": "choice", "choices": ["x"], "default": "y"}], "“a”: the default 'y' breaks"),
        ([{"name": "a", "type": "choice"}], "non-empty list of “choices”"),
        ([{"name": "a", "type": "choice", "choices": ["x", "x"]}], "repeat a value"),
        ([{"name": "a", "required": "yes"}], "“required” must be true or false"),
        ([{"name": "a", "label": 3}], "“label” must be a text"),
        ([{"name": "a", "type": "integer", "min": "one"}], "“min” must be a number"),
    ],
)
def test_authoring_errors_name_the_parameter_and_the_problem(parameters: object, message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse(parameters)
    assert message in str(caught.value)


def test_authoring_errors_are_translated() -> None:
    with translation.override("pt-br"), pytest.raises(SchemaError) as caught:
        ParameterSchema.parse([{"name": "a", "type": "integer", "min": 5, "max": 1}])
    assert "“min” está acima de “max”" in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse(
            [{"name": "a", "type": "nope"}, {"name": "b", "type": "integer", "min": 2, "max": 1}]
        )
    assert len(caught.value.errors) == 2


def test_json_schema_carries_the_same_constraints() -> None:
    schema = ParameterSchema.parse(
        [
            {"name": "s", "max_length": 4, "min_length": 1},
            {"name": "i", "type": "integer", "min": 1, "max": 3, "default": 2},
            {"name": "c", "type": "choice", "choices": ["a", "b"]},
            {"name": "b", "type": "boolean"},
            {"name": "o", "required": False},
        ]
    ).json_schema()
    assert schema["properties"]["s"] == {"title": "S", "type": "string", "minLength": 1, "maxLength": 4}
    assert schema["properties"]["i"]["minimum"] == 1 and schema["properties"]["i"]["maximum"] == 3
    assert schema["properties"]["c"]["enum"] == ["a", "b"]
    assert schema["required"] == ["s", "i", "c"]
    assert schema["additionalProperties"] is False
