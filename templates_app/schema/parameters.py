"""Parsed parameters and everything derived from them.

Each ``Parameter`` derives, from its own fields only, the three faces of one
rule: the Django form field (server validation and its messages), the HTML
constraint attributes the browser enforces (``html_attrs``), and the JSON Schema
the API publishes (``to_json_schema``). tests/test_form_parity.py checks that
the three accept and reject the same values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.forms.renderers import Jinja2 as Jinja2Renderer
from django.template.defaultfilters import filesizeformat
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from . import fields as schema_fields

LocalizedText = str | dict[str, str]

PARAMETER_TYPES = (
    "string",
    "text",
    "integer",
    "number",
    "boolean",
    "choice",
    "multichoice",
    "email",
    "url",
    "date",
    "json",
    "file",
)
RADIO_LIMIT = 5  # up to this many choices show as radio buttons, more as a select
DEFAULT_MAX_SIZE = 100_000
TEXT_LIKE = frozenset({"string", "text", "email", "url"})
# What an optional parameter accepts as "not given", besides being left out.
EMPTY_VALUES: dict[str, list[Any]] = {
    "integer": [None],
    "number": [None],
    "boolean": [None],
    "json": [None],
    "multichoice": [[], None],
}
DEFAULT_PATTERN_MESSAGE = gettext_lazy("Enter a value in the format asked for.")


class SchemaError(ValueError):
    """An authoring error in a parameter schema; ``errors`` lists each problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def localize(text: LocalizedText | None, language: str | None = None) -> str:
    """Pick the text for a language ("pt-br" → "pt-br", then "pt"), falling back to English."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    language = (language or get_language() or "en").lower()
    for key in (language, language.split("-")[0], "en"):
        if key in text:
            return text[key]
    return next(iter(text.values()), "")


def _number(value: float | int) -> str:
    """A number as HTML and people write it: 1, 0.5 (never 1.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Choice:
    value: str
    label: LocalizedText


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    label: LocalizedText
    help: LocalizedText = ""
    placeholder: LocalizedText = ""
    required: bool = True
    default: Any = None
    group: LocalizedText | None = None
    order: int = 0
    hidden: bool = False
    choices: tuple[Choice, ...] = ()
    widget: str | None = None
    min: Any = None
    max: Any = None
    step: float | int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: LocalizedText = ""
    min_items: int | None = None
    max_items: int | None = None
    value_schema: Any = None
    max_size: int = DEFAULT_MAX_SIZE
    extensions: tuple[str, ...] = ()

    @property
    def optional(self) -> bool:
        """May be left empty: not required, or a box (unticked is an answer: "no")."""
        return self.type == "boolean" or not self.required

    @property
    def uses_radios(self) -> bool:
        return self.widget == "radio" or (self.widget is None and len(self.choices) <= RADIO_LIMIT)

    # --- HTML constraint attributes -----------------------------------------
    def html_pattern(self) -> str | None:
        """The pattern attribute: the author's, and for URLs also the address rule."""
        if self.type == "url":
            if self.pattern:
                # Both must hold; a lookahead joins them into the one attribute HTML allows.
                return f"(?=(?:{self.pattern})$)(?:{schema_fields.URL_PATTERN})"
            return schema_fields.URL_PATTERN
        return self.pattern

    def html_attrs(self, language: str | None = None) -> dict[str, str]:
        """The constraint attributes the browser enforces (``required`` is added by
        Django from the same ``required``)."""
        attrs: dict[str, str] = {}
        if self.type in TEXT_LIKE:
            if self.min_length is not None:
                attrs["minlength"] = str(self.min_length)
            if self.max_length is not None:
                attrs["maxlength"] = str(self.max_length)
            if pattern := self.html_pattern():
                attrs["pattern"] = pattern
        if self.type in ("integer", "number", "date"):
            if self.min is not None:
                attrs["min"] = _number(self.min) if self.type != "date" else self.min
            if self.max is not None:
                attrs["max"] = _number(self.max) if self.type != "date" else self.max
        if self.type in ("integer", "number"):
            attrs["step"] = _number(self.step) if self.step else ("1" if self.type == "integer" else "any")
        if self.type == "date":
            attrs["type"] = "date"
        if self.type == "file" and self.extensions:
            attrs["accept"] = ",".join(self.extensions)
        if self.placeholder and self.type in (*TEXT_LIKE, "integer", "number", "json"):
            attrs["placeholder"] = localize(self.placeholder, language)
        if self.type in ("text", "json"):
            attrs["rows"] = "6"
        if self.type == "json":
            attrs["spellcheck"] = "false"
            attrs["class"] = "code"
        if self.type in ("email", "url", "json"):
            attrs["autocapitalize"] = "off"
        return attrs

    # --- Django form field --------------------------------------------------
    def initial(self) -> Any:
        if self.type == "json" and self.default is not None:
            return json.dumps(self.default, ensure_ascii=False)
        return self.default

    def to_form_field(self, language: str | None = None) -> forms.Field:
        attrs = self.html_attrs(language)
        common: dict[str, Any] = {
            "label": localize(self.label, language),
            "help_text": localize(self.help, language),
            "required": not self.optional,
            "initial": self.initial(),
        }
        lengths = {"min_length": self.min_length, "max_length": self.max_length}
        pattern_validators = []
        if self.pattern:
            message = localize(self.pattern_message, language) or DEFAULT_PATTERN_MESSAGE
            pattern_validators = [schema_fields.FullMatchValidator(self.pattern, message, code="pattern")]
        kind = self.type
        if kind == "string":
            return schema_fields.PlainTextField(
                widget=forms.TextInput(attrs), validators=pattern_validators, **lengths, **common
            )
        if kind == "text":
            return schema_fields.PlainTextField(widget=forms.Textarea(attrs), **lengths, **common)
        if kind == "email":
            return schema_fields.EmailAddressField(
                widget=forms.EmailInput(attrs), validators=pattern_validators, **lengths, **common
            )
        if kind == "url":
            return schema_fields.WebAddressField(
                widget=forms.URLInput(attrs), validators=pattern_validators, **lengths, **common
            )
        if kind in ("integer", "number"):
            validators: list[Any] = []
            if self.min is not None:
                validators.append(MinValueValidator(self.min))
            if self.max is not None:
                validators.append(MaxValueValidator(self.max))
            if self.step:
                validators.append(schema_fields.DecimalStepValidator(self.step))
            field_class = schema_fields.IntegerValueField if kind == "integer" else forms.FloatField
            return field_class(widget=forms.NumberInput(attrs), validators=validators, **common)
        if kind == "date":
            validators = []
            if self.min is not None:
                validators.append(MinValueValidator(date.fromisoformat(self.min)))
            if self.max is not None:
                validators.append(MaxValueValidator(date.fromisoformat(self.max)))
            return schema_fields.IsoDateField(
                widget=forms.DateInput(attrs, format="%Y-%m-%d"), validators=validators, **common
            )
        if kind == "boolean":
            return forms.BooleanField(widget=forms.CheckboxInput(attrs), **common)
        if kind == "json":
            return schema_fields.JsonValueField(
                json_schema=self.value_schema, widget=forms.Textarea(attrs), **common
            )
        if kind == "file":
            limits = _("A text file of at most %(size)s.") % {"size": filesizeformat(self.max_size)}
            if self.extensions:
                limits += " " + _("Its name ends in %(extensions)s.") % {
                    "extensions": ", ".join(self.extensions)
                }
            common["help_text"] = " ".join(filter(None, [common["help_text"], limits]))
            return schema_fields.TextFileField(
                max_size=self.max_size,
                extensions=self.extensions,
                widget=schema_fields.TextFileInput(attrs),
                **common,
            )
        choices = [(choice.value, localize(choice.label, language)) for choice in self.choices]
        if kind == "multichoice":
            validators = [schema_fields.unique_items]
            if self.min_items:
                validators.append(schema_fields.ItemCountValidator(self.min_items, most=False))
            if self.max_items is not None:
                validators.append(schema_fields.ItemCountValidator(self.max_items, most=True))
            return forms.MultipleChoiceField(
                choices=choices, widget=forms.CheckboxSelectMultiple(attrs), validators=validators, **common
            )
        if self.uses_radios:
            return forms.ChoiceField(choices=choices, widget=forms.RadioSelect(attrs), **common)
        if self.optional or self.default is None:
            # An empty first option: nothing is chosen for the person, and a required
            # select then carries `required` (HTML forbids it otherwise).
            choices = [("", _("Choose one") if not self.optional else _("(none)")), *choices]
        return forms.ChoiceField(choices=choices, widget=forms.Select(attrs), **common)

    # --- JSON values (the API) ----------------------------------------------
    def form_data(self, value: Any, field: forms.Field) -> Any:
        """A JSON value as the form receives it from a browser; ValidationError for a
        value of the wrong JSON type (the form's own message where it has one)."""
        kind = self.type
        if value is None:
            return [] if kind == "multichoice" else ""
        if kind == "boolean":
            if not isinstance(value, bool):
                raise ValidationError(_("Enter true or false."), code="invalid")
            return value
        if kind in ("integer", "number"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationError(field.error_messages["invalid"], code="invalid")
            return _number(value) if kind == "integer" else str(value)
        if kind == "multichoice":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ValidationError(field.error_messages["invalid_list"], code="invalid_list")
            return value
        if kind == "json":
            return json.dumps(value, ensure_ascii=False)
        if not isinstance(value, str):
            if kind == "choice":
                raise ValidationError(
                    field.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
                )
            raise ValidationError(_("Enter text."), code="invalid")
        return value

    # --- JSON Schema --------------------------------------------------------
    def core_json_schema(self) -> dict[str, Any]:
        """The schema of a given (non-empty) value."""
        kind = self.type
        schema: dict[str, Any] = {}
        if kind in (*TEXT_LIKE, "date", "file", "choice"):
            schema["type"] = "string"
        if kind in TEXT_LIKE:
            least = max(self.min_length or 0, 0 if self.optional else 1)
            if least:
                schema["minLength"] = least
            if self.max_length is not None:
                schema["maxLength"] = self.max_length
            patterns = [p for p in (self.pattern,) if p]
            if kind == "email":
                schema["format"] = "email"
                patterns.insert(0, schema_fields.EMAIL_PATTERN)
            elif kind == "url":
                schema["format"] = "uri"
                patterns.insert(0, schema_fields.URL_PATTERN)
            anchored = [f"^(?:{p})$" for p in patterns]
            if len(anchored) == 1:
                schema["pattern"] = anchored[0]
            elif anchored:
                schema["allOf"] = [{"pattern": p} for p in anchored]
        elif kind in ("integer", "number"):
            schema["type"] = kind
            if self.min is not None:
                schema["minimum"] = self.min
            if self.max is not None:
                schema["maximum"] = self.max
            if self.step:
                schema["multipleOf"] = self.step
        elif kind == "boolean":
            schema["type"] = "boolean"
        elif kind == "date":
            schema["format"] = "date"
            patterns = [schema_fields.DATE_PATTERN]
            # JSON Schema can't compare dates, but YYYY-MM-DD texts sort as dates do.
            if self.min is not None:
                patterns.append(schema_fields.date_bound_pattern(self.min, upper=False))
            if self.max is not None:
                patterns.append(schema_fields.date_bound_pattern(self.max, upper=True))
            if len(patterns) == 1:
                schema["pattern"] = f"^(?:{patterns[0]})$"
            else:
                schema["allOf"] = [{"pattern": f"^(?:{p})$"} for p in patterns]
        elif kind == "choice":
            schema["enum"] = [choice.value for choice in self.choices]
        elif kind == "multichoice":
            schema["type"] = "array"
            schema["items"] = {"type": "string", "enum": [choice.value for choice in self.choices]}
            schema["uniqueItems"] = True
            least = max(self.min_items or 0, 0 if self.optional else 1)
            if least:
                schema["minItems"] = least
            if self.max_items is not None:
                schema["maxItems"] = self.max_items
        elif kind == "json":
            schema["not"] = {"type": "null"}
            if self.value_schema is not None:
                schema["allOf"] = [self.value_schema]
        elif kind == "file":
            schema["contentMediaType"] = "text/plain"
            if not self.optional:
                schema["minLength"] = 1
            # A character is at least one byte: this bounds the size; the API checks
            # the exact size in UTF-8 bytes.
            schema["maxLength"] = self.max_size
        return schema

    def to_json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"title": localize(self.label, "en")}
        if self.help:
            schema["description"] = localize(self.help, "en")
        core = self.core_json_schema()
        if self.optional:
            empty = EMPTY_VALUES.get(self.type, ["", None])
            schema["anyOf"] = [core, {"enum": empty}]
        else:
            schema.update(core)
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def sample_value(self) -> Any:
        """A value that satisfies the constraints, for trial renders on save."""
        if self.default is not None:
            return self.default
        kind = self.type
        if kind in ("choice", "multichoice"):
            first = self.choices[0].value if self.choices else ""
            return (
                first if kind == "choice" else [c.value for c in self.choices[: max(self.min_items or 1, 1)]]
            )
        if kind == "boolean":
            return True
        if kind in ("integer", "number"):
            return self.min if self.min is not None else (self.max if self.max is not None else 0)
        if kind == "date":
            return self.min or self.max or "2000-01-01"
        if kind == "json":
            return {}
        if kind == "email":
            return "someone@example.com"
        if kind == "url":
            return "https://example.com/"
        return "x" * max(self.min_length or 1, 1)


class ParameterForm(forms.Form):
    """The base of every generated form: fields in layout order, groups as sections,
    hidden parameters' fixed values added to the cleaned data."""

    # Widgets rendered by Jinja2 (Django ships its widget templates for it): about
    # twice as fast as the Django template engine on a 40-parameter form.
    default_renderer = Jinja2Renderer()
    layout: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = ()
    fixed_values: ClassVar[dict[str, Any]] = {}
    parameters: ClassVar[dict[str, Parameter]] = {}
    has_files: ClassVar[bool] = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned.update(self.fixed_values)
        return cleaned

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        """(legend, fields) in order; the legend is empty for ungrouped fields."""
        return [(legend, [self[name] for name in names]) for legend, names in self.layout]

    @classmethod
    def validate_json(cls, raw: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
        """Validate API inputs (JSON values) with this very form: the same rules and
        messages as the browser's. An omitted parameter takes its default."""
        errors: dict[str, list[str]] = {}
        data: dict[str, Any] = {}
        for name in raw:
            if name in cls.fixed_values:
                errors[name] = [_("This value is fixed by the template and can't be set.")]
            elif name not in cls.parameters:
                errors[name] = [_("Unknown parameter.")]
        for name, parameter in cls.parameters.items():
            value = raw.get(name, parameter.default)
            if name not in raw and value is None:
                continue
            try:
                data[name] = parameter.form_data(value, cls.base_fields[name])
            except ValidationError as exc:
                errors[name] = list(exc.messages)
        form = cls(data=data)
        valid = form.is_valid()
        for name, messages in form.errors.items():
            errors.setdefault(name, list(messages))
        if errors or not valid:
            return None, errors
        return form.cleaned_data, {}


@dataclass(frozen=True)
class ParameterSchema:
    parameters: tuple[Parameter, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, data: Any, *, compile_patterns: bool = True) -> ParameterSchema:
        """Parse raw schema data, raising SchemaError listing every problem found
        (``compile_patterns``: see ``parsing.parse_parameters``)."""
        from .parsing import parse_parameters

        return cls(parse_parameters(data, compile_patterns=compile_patterns))

    @property
    def names(self) -> set[str]:
        return {parameter.name for parameter in self.parameters}

    @property
    def visible(self) -> tuple[Parameter, ...]:
        """The parameters a person fills, in order (``order``, then position)."""
        ranked = sorted(enumerate(self.parameters), key=lambda item: (item[1].order, item[0]))
        return tuple(parameter for _position, parameter in ranked if not parameter.hidden)

    def layout(self, language: str | None = None) -> list[tuple[str, list[Parameter]]]:
        """Sections in order: a group sits where its first member comes."""
        sections: list[tuple[str, list[Parameter]]] = []
        by_group: dict[str, list[Parameter]] = {}
        for parameter in self.visible:
            if parameter.group is None:
                sections.append(("", [parameter]))
                continue
            key = json.dumps(parameter.group, sort_keys=True)
            if key not in by_group:
                by_group[key] = []
                sections.append((localize(parameter.group, language), by_group[key]))
            by_group[key].append(parameter)
        return sections

    def form_class(self, language: str | None = None) -> type[ParameterForm]:
        layout = self.layout(language)
        fields: dict[str, Any] = {}
        for _legend, members in layout:
            for parameter in members:
                fields[parameter.name] = parameter.to_form_field(language)
        attrs = {
            **fields,
            "layout": tuple((legend, tuple(p.name for p in members)) for legend, members in layout),
            "fixed_values": {p.name: p.default for p in self.parameters if p.hidden},
            "parameters": {p.name: p for p in self.visible},
            "has_files": any(p.type == "file" for p in self.visible),
        }
        return type("ParameterForm", (ParameterForm,), attrs)

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {p.name: p.to_json_schema() for p in self.visible},
            "required": [p.name for p in self.visible if not p.optional and p.default is None],
            "additionalProperties": False,
        }

    def sample_inputs(self) -> dict[str, Any]:
        return {p.name: p.sample_value() for p in self.parameters}
