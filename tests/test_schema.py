from __future__ import annotations

import json

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
        (
            [{"name": "a", "type": "choice", "choices": ["x"], "default": "y"}],
            "“a”: the default 'y' is not one",
        ),
        ([{"name": "a", "type": "choice"}], "non-empty list of “choices”"),
        ([{"name": "a", "type": "choice", "choices": ["x", "x"]}], "repeat a value"),
        ([{"name": "a", "required": "yes"}], "“required” must be true or false"),
        ([{"name": "a", "label": 3}], "“label” must be a text"),
        ([{"name": "a", "type": "integer", "min": "one"}], "“min” must be a whole number"),
        ([{"name": "a", "type": "number", "min": "one"}], "“min” must be a number"),
        ([{"name": "a", "type": "integer", "min": 1.5}], "“min” must be a whole number"),
        ([{"name": "a", "type": "number", "step": 0}], "“step” must be above 0"),
        ([{"name": "a", "type": "number", "min": 0.05, "step": 0.1}], "“min” must be a multiple of “step”"),
        ([{"name": "a", "type": "number", "step": 0.5, "default": 0.7}], "the default 0.7 breaks"),
        ([{"name": "a", "pattern": "[a-"}], "“a”: “pattern” is not a valid regular expression"),
        ([{"name": "a", "pattern": "(?P<x>a)"}], "syntax browsers don't share"),
        ([{"name": "a", "pattern": "(?i)a"}], "syntax browsers don't share"),
        ([{"name": "a", "pattern": "[a-z]+", "default": "ABC"}], "the default 'ABC' breaks"),
        ([{"name": "a", "pattern_message": "x"}], "“pattern_message” needs a “pattern”"),
        ([{"name": "a", "type": "text", "pattern": "x"}], "unknown key(s) pattern for type “text”"),
        ([{"name": "a", "type": "date", "min": "2024-02-30"}], "“min” must be a date written YYYY-MM-DD"),
        ([{"name": "a", "type": "date", "min": "2024-02-03", "max": "2024-01-01"}], "“min” is above “max”"),
        (
            [{"name": "a", "type": "date", "max": "2024-01-01", "default": "2025-01-01"}],
            "the default '2025-01-01'",
        ),
        ([{"name": "a", "type": "email", "default": "not an address"}], "the default 'not an address'"),
        ([{"name": "a", "type": "url", "default": "ftp://example.com"}], "the default 'ftp://example.com'"),
        ([{"name": "a", "type": "multichoice", "choices": ["x"], "default": ["y"]}], "the default ['y']"),
        ([{"name": "a", "type": "multichoice", "choices": ["x"], "min_items": 2}], "more than the number"),
        (
            [{"name": "a", "type": "multichoice", "choices": ["x", "y"], "min_items": 2, "max_items": 1}],
            "“min_items” is above “max_items”",
        ),
        ([{"name": "a", "type": "choice", "choices": ["x"], "widget": "slider"}], "“widget” must be"),
        ([{"name": "a", "type": "json", "schema": {"type": "nope"}}], "“schema” is not a valid JSON Schema"),
        (
            [{"name": "a", "type": "json", "schema": {"type": "array"}, "default": {}}],
            "the default {} breaks",
        ),
        ([{"name": "a", "type": "file", "max_size": 0}], "“max_size” must be"),
        ([{"name": "a", "type": "file", "extensions": ["txt"]}], "“extensions” must be a list"),
        ([{"name": "a", "type": "file", "default": "x"}], "can't have a default"),
        ([{"name": "a", "hidden": True}], "a hidden parameter needs a “default”"),
        ([{"name": "a", "type": "file", "hidden": True}], "a hidden parameter needs a “default”"),
        ([{"name": "a", "order": "first"}], "“order” must be a whole number"),
        ([{"name": "a", "group": ["x"]}], "“group” must be a text"),
        ([{"name": "a", "type": "boolean", "default": "yes"}], "the default must be true or false"),
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
    # A parameter with a default may be left out (it takes the default).
    assert schema["required"] == ["s", "c"]
    assert schema["additionalProperties"] is False


# --- Every type, every key -----------------------------------------------------


@pytest.mark.parametrize(
    ("parameter", "field_class", "widget_fragment"),
    [
        (
            {"name": "a", "type": "multichoice", "choices": ["x", "y"]},
            forms.MultipleChoiceField,
            'type="checkbox"',
        ),
        ({"name": "a", "type": "email"}, forms.CharField, 'type="email"'),
        ({"name": "a", "type": "url"}, forms.CharField, 'type="url"'),
        ({"name": "a", "type": "date"}, forms.DateField, 'type="date"'),
        ({"name": "a", "type": "json"}, forms.CharField, "<textarea"),
        ({"name": "a", "type": "file"}, forms.Field, 'type="file"'),
    ],
)
def test_the_newer_types_become_their_form_fields(
    parameter: dict, field_class: type, widget_fragment: str
) -> None:
    form = form_for([parameter])
    assert isinstance(form.fields["a"], field_class)
    assert widget_fragment in rendered(form, "a")


def test_pattern_must_match_the_whole_value_with_its_own_message() -> None:
    parameters = [
        {
            "name": "code",
            "pattern": "[A-Z]{3}-[0-9]+",
            "pattern_message": {"en": "Like ABC-1.", "pt": "Como ABC-1."},
        }
    ]
    assert 'pattern="[A-Z]{3}-[0-9]+"' in rendered(form_for(parameters), "code")
    assert form_for(parameters, {"code": "ABC-12"}).is_valid()
    for bad in ("xABC-12", "ABC-12x", "abc-1"):
        form = form_for(parameters, {"code": bad})
        assert form.errors["code"] == ["Like ABC-1."], bad
    assert form_for(parameters, {"code": "x"}, language="pt-br").errors["code"] == ["Como ABC-1."]


def test_text_keeps_what_was_typed_and_counts_a_line_break_once() -> None:
    parameters = [{"name": "t", "type": "text", "max_length": 3}]
    form = form_for(parameters, {"t": "a\r\nb"})  # browsers send CRLF; their maxlength counts 1
    assert form.is_valid(), form.errors
    assert form.cleaned_data["t"] == "a\nb"
    kept = form_for([{"name": "s"}], {"s": "  x "})
    assert kept.is_valid() and kept.cleaned_data["s"] == "  x "


def test_number_step_is_decimal_and_integer_step_is_enforced() -> None:
    number = [{"name": "n", "type": "number", "step": 0.1, "min": 0, "max": 1}]
    assert form_for(number, {"n": "0.3"}).is_valid()
    assert not form_for(number, {"n": "0.35"}).is_valid()
    integer = [{"name": "i", "type": "integer", "step": 5}]
    assert 'step="5"' in rendered(form_for(integer), "i")
    assert form_for(integer, {"i": "15"}).is_valid()
    assert "multiple of step size 5" in form_for(integer, {"i": "7"}).errors["i"][0]


def test_choice_select_offers_an_empty_first_option_unless_a_default_is_set() -> None:
    required = [{"name": "c", "type": "choice", "choices": ["a", "b"], "widget": "select"}]
    html = rendered(form_for(required), "c")
    assert '<option value="" selected>Choose one</option>' in html and "required" in html
    with_default = [{**required[0], "default": "b"}]
    assert '<option value=""' not in rendered(form_for(with_default), "c")
    radios = [{"name": "c", "type": "choice", "choices": list("abcdefg"), "widget": "radio"}]
    assert 'type="radio"' in rendered(form_for(radios), "c")


def test_multichoice_is_a_list_with_item_limits() -> None:
    parameters = [
        {"name": "m", "type": "multichoice", "choices": list("abcd"), "min_items": 2, "max_items": 3}
    ]
    form = form_for(parameters, {"m": ["a", "c"]})
    assert form.is_valid() and form.cleaned_data["m"] == ["a", "c"]
    assert form_for(parameters, {"m": ["a"]}).errors["m"] == ["Choose at least 2 options."]
    assert form_for(parameters, {"m": list("abcd")}).errors["m"] == ["Choose at most 3 options."]
    assert not form_for(parameters, {"m": ["z"]}).is_valid()
    optional = [{**parameters[0], "required": False}]
    assert form_for(optional, {}).is_valid()


def test_email_follows_the_html_standard() -> None:
    parameters = [{"name": "e", "type": "email"}]
    assert form_for(parameters, {"e": "ana@example"}).is_valid()  # as <input type=email> accepts
    for bad in ("ana", "ana@", "@example.com", "ana @example.com", "ana@-example.com"):
        assert form_for(parameters, {"e": bad}).errors["e"] == ["Enter a valid email address."], bad


def test_url_takes_http_and_https_addresses_with_a_host_name() -> None:
    parameters = [{"name": "u", "type": "url"}]
    for good in ("https://example.com", "http://localhost:8000/a?b=c#d", "https://a.b-c.example/x"):
        assert form_for(parameters, {"u": good}).is_valid(), good
    for bad in ("example.com", "ftp://example.com", "https://", "https://exa mple.com", "https://1.2.3.4/"):
        assert form_for(parameters, {"u": bad}).errors["u"] == ["Enter a valid URL."], bad


def test_date_is_iso_text_within_its_bounds() -> None:
    parameters = [{"name": "d", "type": "date", "min": "2024-01-01", "max": "2024-12-31"}]
    html = rendered(form_for(parameters), "d")
    assert 'min="2024-01-01"' in html and 'max="2024-12-31"' in html
    form = form_for(parameters, {"d": "2024-02-29"})
    assert form.is_valid() and form.cleaned_data["d"] == "2024-02-29"
    assert not form_for(parameters, {"d": "2023-12-31"}).is_valid()
    assert not form_for(parameters, {"d": "29/02/2024"}).is_valid()
    assert not form_for(parameters, {"d": "2024-02-30"}).is_valid()


def test_json_is_parsed_and_checked_against_its_schema() -> None:
    parameters = [{"name": "j", "type": "json", "schema": {"type": "array", "items": {"type": "integer"}}}]
    form = form_for(parameters, {"j": "[1, 2]"})
    assert form.is_valid() and form.cleaned_data["j"] == [1, 2]
    assert form_for(parameters, {"j": "[1,"}).errors["j"] == ["Enter valid JSON."]
    assert (
        "The value does not fit: 'x' is not of type 'integer'"
        in form_for(parameters, {"j": '["x"]'}).errors["j"][0]
    )
    import html

    default = rendered(form_for([{"name": "j", "type": "json", "default": {"a": 1}}]), "j")
    assert '{"a": 1}</textarea>' in html.unescape(default)


def test_file_content_becomes_the_value_within_size_and_extensions() -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    parameters = [{"name": "f", "type": "file", "max_size": 10, "extensions": [".txt", ".MD"]}]
    schema = ParameterSchema.parse(parameters)
    html = rendered(schema.form_class("en")(), "f")
    assert 'accept=".txt,.md"' in html and "at most 10" in schema.form_class("en")().fields["f"].help_text

    def upload(name: str, content: bytes) -> forms.Form:
        return schema.form_class("en")({}, {"f": SimpleUploadedFile(name, content)})

    form = upload("notes.TXT", "olá\r\n".encode())
    assert form.is_valid(), form.errors
    assert form.cleaned_data["f"] == "olá\n"
    assert "must end in .txt, .md" in upload("a.pdf", b"x").errors["f"][0]
    assert "too big" in upload("a.txt", b"x" * 11).errors["f"][0]
    assert upload("a.txt", b"\xff\xfe").errors["f"] == ["The file must be UTF-8 text."]
    assert schema.form_class("en")({}, {}).errors["f"] == ["This field is required."]
    assert schema.form_class("en").has_files


def test_groups_become_sections_in_order_and_hidden_values_are_fixed() -> None:
    parameters = [
        {"name": "a", "order": 3},
        {"name": "b", "group": {"en": "Details", "pt": "Detalhes"}, "order": 2},
        {"name": "c", "order": 1},
        {"name": "d", "group": {"en": "Details", "pt": "Detalhes"}, "order": 4},
        {"name": "h", "type": "integer", "hidden": True, "default": 7},
    ]
    form_class = ParameterSchema.parse(parameters).form_class("pt-br")
    assert form_class.layout == (("", ("c",)), ("Detalhes", ("b", "d")), ("", ("a",)))
    assert list(form_class.base_fields) == ["c", "b", "d", "a"]  # the error summary follows the page
    form = form_class({"a": "1", "b": "2", "c": "3", "d": "4", "h": "999"})
    assert form.is_valid()
    assert form.cleaned_data["h"] == 7  # a posted value can't override it
    assert "h" not in ParameterSchema.parse(parameters).json_schema()["properties"]


def test_group_renders_as_a_fieldset_with_its_legend() -> None:
    from django.template.loader import render_to_string

    form = form_for([{"name": "a", "group": "Contact"}, {"name": "b", "group": "Contact"}])
    html = render_to_string("includes/parameter_fields.html", {"form": form})
    assert html.count("<fieldset") == 1
    assert '<legend class="group__legend">Contact</legend>' in html


def test_placeholders_and_localized_texts() -> None:
    parameters = [
        {
            "name": "a",
            "placeholder": {"en": "e.g. lamp", "pt": "ex. luminária"},
            "help": {"en": "Help", "pt": "Ajuda"},
        }
    ]
    assert 'placeholder="ex. luminária"' in rendered(form_for(parameters, language="pt-br"), "a")
    assert 'placeholder="e.g. lamp"' in rendered(form_for(parameters, language="de"), "a")
    checkbox = [{"name": "b", "type": "boolean", "placeholder": "ignored"}]
    assert "placeholder" not in rendered(form_for(checkbox), "b")


# --- API values: the same form, the same messages -------------------------------


def validate(parameters: list[dict], raw: dict, language: str = "en") -> tuple:
    with translation.override(language):
        return ParameterSchema.parse(parameters).form_class(language).validate_json(raw)


def test_api_values_are_typed_json_checked_by_the_forms_rules() -> None:
    parameters = [
        {"name": "n", "type": "integer", "max": 5},
        {"name": "b", "type": "boolean"},
        {"name": "m", "type": "multichoice", "choices": ["x", "y"]},
        {"name": "j", "type": "json"},
        {"name": "f", "type": "file", "max_size": 4},
        {"name": "d", "type": "date", "default": "2024-01-01"},
    ]
    cleaned, errors = validate(parameters, {"n": 3, "b": True, "m": ["y"], "j": {"k": [1]}, "f": "abc"})
    assert errors == {}
    assert cleaned == {"n": 3, "b": True, "m": ["y"], "j": {"k": [1]}, "f": "abc", "d": "2024-01-01"}
    _cleaned, errors = validate(parameters, {"n": "3", "b": "yes", "m": "x", "j": None, "f": "abcde"})
    assert errors["n"] == ["Enter a whole number."]
    assert errors["b"] == ["Enter true or false."]
    assert errors["m"] == ["Enter a list of values."]
    assert errors["j"] == ["This field is required."]
    assert "too big" in errors["f"][0]
    _cleaned, errors = validate(parameters, {"n": 9}, language="pt-br")
    assert errors["n"] == ["Certifique-se que este valor seja menor ou igual a 5."]


def test_api_refuses_unknown_and_fixed_parameters() -> None:
    parameters = [{"name": "a", "required": False}, {"name": "h", "hidden": True, "default": "x"}]
    _cleaned, errors = validate(parameters, {"zz": 1, "h": "y"})
    assert errors == {
        "zz": ["Unknown parameter."],
        "h": ["This value is fixed by the template and can't be set."],
    }
    cleaned, errors = validate(parameters, {"a": None})
    assert errors == {} and cleaned == {"a": "", "h": "x"}


# --- Warnings ------------------------------------------------------------------


def test_a_parameter_the_prompt_never_uses_is_a_warning_not_an_error() -> None:
    from templates_app.schema import parameter_warnings

    parameters = [{"name": "used"}, {"name": "unused"}, {"name": "in_system"}]
    assert parameter_warnings(parameters, "{{ used }}", "{{ in_system }}") == [
        "Parameter “unused”: the prompt never uses it."
    ]
    assert parameter_warnings([{"name": "x", "type": "bad"}], "") == []  # its errors say more


@pytest.mark.django_db
def test_a_body_naming_an_unknown_parameter_is_refused_on_save(make_template) -> None:
    from django.core.exceptions import ValidationError

    template = make_template()
    with pytest.raises(ValidationError) as caught:
        template.create_version(body="{{ nope }}", parameters=[{"name": "a"}])
    assert "nope" in str(caught.value)


@pytest.mark.django_db
def test_every_demo_template_saves_without_warnings() -> None:
    from templates_app.demo import demo_templates
    from templates_app.schema import PARAMETER_TYPES, parameter_warnings
    from templates_app.steps_text import check_steps

    used_types = set()
    used_keys = set()
    for demo in demo_templates():
        schema = ParameterSchema.parse(demo.parameters)
        # A workflow's parameters are read by its steps (its body may be empty).
        graph = check_steps(demo.steps, parameters=demo.parameters, result_step=demo.result_step).graph
        read = graph.parameters_read() if demo.steps else set()
        assert parameter_warnings(schema, demo.body, demo.system_prompt, also_read=read) == [], demo.slug
        used_types |= {p["type"] for p in demo.parameters}
        used_keys |= {key for p in demo.parameters for key in p}
        used_keys |= {"widget:" + p.get("widget", "") for p in demo.parameters}
    assert used_types == set(PARAMETER_TYPES)
    from templates_app.schema.parsing import COMMON_KEYS, TYPE_KEYS

    every_key = set(COMMON_KEYS).union(*TYPE_KEYS.values())
    assert every_key <= used_keys, every_key - used_keys
    assert {"widget:select", "widget:"} <= used_keys


@pytest.mark.parametrize("pattern", ["[a-z-]", "[-a]", "[/x]", "[a|b]", "[a&&b]", "[(]"])
def test_a_pattern_browsers_would_ignore_is_refused(pattern: str) -> None:
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse([{"name": "a", "pattern": pattern}])
    assert "“a”: “pattern” would be ignored by browsers" in str(caught.value)


def test_date_bounds_are_exact_in_json_schema_too() -> None:
    from jsonschema import Draft202012Validator

    schema = ParameterSchema.parse([{"name": "d", "type": "date", "min": "2024-02-29", "max": "2024-03-10"}])
    validator = Draft202012Validator(schema.json_schema()["properties"]["d"])
    accepted = [
        day
        for day in ("2024-02-28", "2024-02-29", "2024-03-01", "2024-03-10", "2024-03-11")
        if validator.is_valid(day)
    ]
    assert accepted == ["2024-02-29", "2024-03-01", "2024-03-10"]


# --- The API's generate path and schema endpoint, for the newer types -------------

RICH_SCHEMA = [
    {"name": "day", "type": "date", "min": "2024-01-01"},
    {"name": "areas", "type": "multichoice", "choices": ["a", "b"], "max_items": 1},
    {"name": "fields", "type": "json", "schema": {"type": "array"}},
    {"name": "notes", "type": "file", "max_size": 50, "required": False},
    {"name": "contact", "type": "email", "required": False},
    {"name": "fmt", "type": "choice", "choices": ["md", "txt"], "default": "md", "hidden": True},
]
RICH_BODY = "{{ day }} {{ areas }} {{ fields }} {{ notes }} {{ contact }} {{ fmt }}"


@pytest.fixture
def api_client(owner):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(owner)
    return client


@pytest.mark.django_db
def test_api_generate_takes_typed_values_of_every_new_type(api_client, make_template) -> None:
    from jobs.models import Job

    make_template(slug="rich", parameters=RICH_SCHEMA, body=RICH_BODY)
    inputs = {"day": "2024-05-01", "areas": ["b"], "fields": ["x", 1], "notes": "line\n", "contact": "a@b.co"}
    response = api_client.post("/api/v1/templates/rich/generate", {"inputs": inputs}, format="json")
    assert response.status_code == 202, response.json()
    assert Job.objects.get().inputs == {**inputs, "fmt": "md"}


@pytest.mark.django_db
def test_api_errors_are_the_forms_messages(api_client, client, make_template) -> None:
    template = make_template(slug="rich", parameters=RICH_SCHEMA, body=RICH_BODY)
    bad = {"day": "2023-12-31", "areas": ["a", "b"], "fields": {"not": "a list"}, "contact": "nope"}
    response = api_client.post(
        "/api/v1/templates/rich/generate", {"inputs": {**bad, "fmt": "txt"}}, format="json"
    )
    assert response.status_code == 400
    details = response.json()["error"]["details"]["inputs"]
    assert details["fmt"] == ["This value is fixed by the template and can't be set."]
    page = client.post(
        template.get_absolute_url(), {**bad, "fields": '{"not": "a list"}'}, HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    import html

    for name in ("day", "areas", "fields", "contact"):
        (message,) = details[name]
        assert html.escape(message) in page, (name, message)


@pytest.mark.django_db
def test_api_schema_endpoint_publishes_the_derived_json_schema(api_client, make_template) -> None:
    make_template(slug="rich", parameters=RICH_SCHEMA, body=RICH_BODY)
    schema = api_client.get("/api/v1/templates/rich/schema").json()
    assert set(schema["properties"]) == {"day", "areas", "fields", "notes", "contact"}
    assert schema["required"] == ["day", "areas", "fields"]
    assert schema["properties"]["areas"]["maxItems"] == 1
    assert schema["properties"]["fields"]["allOf"] == [{"type": "array"}]


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        ({"name": "a", "type": "number", "min": float("inf")}, "“a”: “min” must be a number"),
        ({"name": "a", "type": "number", "max": float("-inf")}, "“a”: “max” must be a number"),
        ({"name": "a", "type": "number", "step": float("nan")}, "“a”: “step” must be a number"),
        ({"name": "a", "type": "number", "min": float("inf"), "step": 1}, "“a”: “min” must be a number"),
        ({"name": "a", "type": "number", "min": 1e308, "step": 1e-308}, "“a”: “min” is too large"),
        ({"name": "a", "type": "integer", "min": 10**40, "step": 7}, "“a”: “min” is too large"),
    ],
)
def test_number_bounds_that_decimal_cannot_check_are_authoring_errors(parameter: dict, message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse([parameter])
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"$ref": "#/nope"}, "refers to “#/nope”, which it doesn't contain"),
        ({"properties": {"x": {"$ref": "#/$defs/missing"}}}, "“#/$defs/missing”"),
        ({"$ref": "https://example.com/schema.json"}, "may only refer to its own parts"),
        ({"$dynamicRef": "other.json#meta"}, "may only refer to its own parts"),
    ],
)
def test_json_schema_references_must_lead_somewhere_in_the_schema(schema: dict, message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse([{"name": "data", "type": "json", "schema": schema}])
    assert "“data”" in str(caught.value) and message in str(caught.value)


def test_json_schema_references_within_the_schema_still_work() -> None:
    schema = {
        "$defs": {"word": {"type": "string", "maxLength": 3}},
        "type": "array",
        "items": {"$ref": "#/$defs/word"},
        "examples": [{"$ref": "data, not a reference"}],
    }
    parameters = [{"name": "data", "type": "json", "schema": schema}]
    assert form_for(parameters, {"data": '["abc"]'}).is_valid()
    assert not form_for(parameters, {"data": '["abcd"]'}).is_valid()


EVIL_PATTERN = "(a+)+$"
EVIL_VALUE = "a" * 28 + "!"  # about a minute under Python's re


def test_a_catastrophic_author_pattern_is_cut_short_and_refuses_the_value() -> None:
    import time

    started = time.monotonic()
    form = form_for([{"name": "word", "pattern": EVIL_PATTERN}], {"word": EVIL_VALUE})
    assert not form.is_valid() and "word" in form.errors
    assert time.monotonic() - started < 2
    assert form_for([{"name": "word", "pattern": EVIL_PATTERN}], {"word": "aaaa"}).is_valid()


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": EVIL_PATTERN},
        {"type": "object", "patternProperties": {EVIL_PATTERN: {"type": "integer"}}},
        {"type": "object", "patternProperties": {EVIL_PATTERN: {}}, "additionalProperties": False},
    ],
)
def test_a_catastrophic_json_schema_pattern_is_cut_short(schema: dict) -> None:
    import time

    value = json.dumps(EVIL_VALUE if schema["type"] == "string" else {EVIL_VALUE: "x"})
    started = time.monotonic()
    form = form_for([{"name": "data", "type": "json", "schema": schema}], {"data": value})
    valid = form.is_valid()
    assert time.monotonic() - started < 2
    assert valid == ("additionalProperties" not in schema and schema["type"] == "object")


def test_unevaluated_properties_with_pattern_properties_is_refused() -> None:
    schema = {"patternProperties": {"^a": {}}, "unevaluatedProperties": False}
    with pytest.raises(SchemaError, match="unevaluatedProperties"):
        ParameterSchema.parse([{"name": "data", "type": "json", "schema": schema}])
