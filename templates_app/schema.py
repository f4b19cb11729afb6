"""The parameter schema: the one source of truth for a template's inputs.

A schema is a list of parameters such as
``{"name": "tone", "type": "choice", "label": {"en": "Tone", "pt": "Tom"},
"choices": ["formal", "casual"], "default": "formal"}``. This module parses and
checks it (authoring errors name the parameter) and derives from it the Django
form that validates a person's input (its widgets carry the HTML constraint
attributes) and the JSON Schema that validates an API call. Nothing else
restates a constraint.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext as _

LocalizedText = str | dict[str, str]

PARAMETER_TYPES = ("string", "text", "integer", "number", "boolean", "choice")
COMMON_KEYS = {"name", "type", "label", "help", "placeholder", "required", "default"}
TYPE_KEYS = {
    "string": {"min_length", "max_length"},
    "text": {"min_length", "max_length"},
    "integer": {"min", "max"},
    "number": {"min", "max", "step"},
    "boolean": set(),
    "choice": {"choices", "widget"},
}
NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
RADIO_LIMIT = 5  # up to this many choices show as radio buttons, more as a select


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
    choices: tuple[Choice, ...] = ()
    min: float | None = None
    max: float | None = None
    step: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    widget: str | None = None

    # --- Django form ------------------------------------------------------
    def to_form_field(self, language: str | None = None) -> forms.Field:
        common: dict[str, Any] = {
            "label": localize(self.label, language),
            "help_text": localize(self.help, language),
            "required": self.required,
            "initial": self.default,
        }
        attrs: dict[str, str] = {}
        if self.placeholder:
            attrs["placeholder"] = localize(self.placeholder, language)
        if self.type in ("string", "text"):
            widget = (
                forms.Textarea(attrs={"rows": 6, **attrs}) if self.type == "text" else forms.TextInput(attrs)
            )
            return forms.CharField(
                min_length=self.min_length, max_length=self.max_length, widget=widget, **common
            )
        if self.type == "integer":
            return forms.IntegerField(
                min_value=_int_or_none(self.min),
                max_value=_int_or_none(self.max),
                widget=forms.NumberInput(attrs),
                **common,
            )
        if self.type == "number":
            attrs["step"] = str(self.step) if self.step else "any"
            return forms.FloatField(
                min_value=self.min, max_value=self.max, widget=forms.NumberInput(attrs), **common
            )
        if self.type == "boolean":
            common["required"] = False  # an unticked box is an answer: "no"
            return forms.BooleanField(widget=forms.CheckboxInput(attrs), **common)
        choices = [(choice.value, localize(choice.label, language)) for choice in self.choices]
        use_radios = self.widget == "radio" or (self.widget is None and len(choices) <= RADIO_LIMIT)
        widget = forms.RadioSelect if use_radios else forms.Select
        if not self.required and not use_radios:
            choices = [("", "—"), *choices]
        return forms.ChoiceField(choices=choices, widget=widget, **common)

    # --- JSON Schema ------------------------------------------------------
    def to_json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"title": localize(self.label, "en")}
        if self.help:
            schema["description"] = localize(self.help, "en")
        if self.type in ("string", "text"):
            schema["type"] = "string"
            if self.min_length is not None:
                schema["minLength"] = self.min_length
            if self.max_length is not None:
                schema["maxLength"] = self.max_length
        elif self.type in ("integer", "number"):
            schema["type"] = self.type
            if self.min is not None:
                schema["minimum"] = self.min
            if self.max is not None:
                schema["maximum"] = self.max
        elif self.type == "boolean":
            schema["type"] = "boolean"
        else:
            schema["type"] = "string"
            schema["enum"] = [choice.value for choice in self.choices]
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def sample_value(self) -> Any:
        """A value that satisfies the constraints, for trial renders on save."""
        if self.default is not None:
            return self.default
        if self.type == "choice":
            return self.choices[0].value
        if self.type == "boolean":
            return True
        if self.type in ("integer", "number"):
            return self.min if self.min is not None else (self.max if self.max is not None else 1)
        return "x" * max(self.min_length or 1, 1)


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class ParameterSchema:
    parameters: tuple[Parameter, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, data: Any) -> ParameterSchema:
        """Parse raw schema data, raising SchemaError listing every problem found."""
        if data in (None, ""):
            return cls(())
        if not isinstance(data, list):
            raise SchemaError([_("The parameter schema must be a list of parameters.")])
        errors: list[str] = []
        parameters: list[Parameter] = []
        seen: set[str] = set()
        for position, raw in enumerate(data, start=1):
            try:
                parameter = _parse_parameter(raw, position)
            except SchemaError as exc:
                errors.extend(exc.errors)
                continue
            if parameter.name in seen:
                errors.append(_("Parameter “%(name)s”: the name is used twice.") % {"name": parameter.name})
            seen.add(parameter.name)
            parameters.append(parameter)
        if errors:
            raise SchemaError(errors)
        return cls(tuple(parameters))

    @property
    def names(self) -> set[str]:
        return {parameter.name for parameter in self.parameters}

    def form_class(self, language: str | None = None) -> type[forms.Form]:
        fields = {p.name: p.to_form_field(language) for p in self.parameters}
        return type("ParameterForm", (forms.Form,), fields)

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {p.name: p.to_json_schema() for p in self.parameters},
            "required": [p.name for p in self.parameters if p.required and p.type != "boolean"],
            "additionalProperties": False,
        }

    def sample_inputs(self) -> dict[str, Any]:
        return {p.name: p.sample_value() for p in self.parameters}


def _is_localized_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    )


def _parse_parameter(raw: Any, position: int) -> Parameter:
    if not isinstance(raw, dict):
        raise SchemaError([_("Parameter %(position)d: must be an object.") % {"position": position}])
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or keyword.iskeyword(name):
        raise SchemaError(
            [
                _(
                    "Parameter %(position)d: “name” must be lower-case letters, digits and "
                    "underscores, starting with a letter."
                )
                % {"position": position}
            ]
        )
    where = _("Parameter “%(name)s”") % {"name": name}
    errors: list[str] = []
    type_ = raw.get("type", "string")
    if type_ not in PARAMETER_TYPES:
        raise SchemaError(
            [
                _("%(where)s: unknown type “%(type)s” (known: %(known)s).")
                % {"where": where, "type": type_, "known": ", ".join(PARAMETER_TYPES)}
            ]
        )
    unknown = set(raw) - COMMON_KEYS - TYPE_KEYS[type_]
    if unknown:
        errors.append(
            _("%(where)s: unknown key(s) %(keys)s for type “%(type)s”.")
            % {"where": where, "keys": ", ".join(sorted(unknown)), "type": type_}
        )
    for key in ("label", "help", "placeholder"):
        if key in raw and not _is_localized_text(raw[key]):
            errors.append(
                _("%(where)s: “%(key)s” must be a text or a mapping of language to text.")
                % {"where": where, "key": key}
            )
    required = raw.get("required", True)
    if not isinstance(required, bool):
        errors.append(_("%(where)s: “required” must be true or false.") % {"where": where})
    numbers: dict[str, Any] = {}
    for key in ("min", "max", "step"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors.append(_("%(where)s: “%(key)s” must be a number.") % {"where": where, "key": key})
        else:
            numbers[key] = value
    for key in ("min_length", "max_length"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            errors.append(
                _("%(where)s: “%(key)s” must be a whole number of 0 or more.") % {"where": where, "key": key}
            )
        else:
            numbers[key] = value
    if numbers.get("min") is not None and numbers.get("max") is not None and numbers["min"] > numbers["max"]:
        errors.append(_("%(where)s: “min” is above “max”.") % {"where": where})
    if (
        numbers.get("min_length") is not None
        and numbers.get("max_length") is not None
        and numbers["min_length"] > numbers["max_length"]
    ):
        errors.append(_("%(where)s: “min_length” is above “max_length”.") % {"where": where})
    choices: list[Choice] = []
    if type_ == "choice":
        choices = _parse_choices(raw.get("choices"), where, errors)
        if raw.get("widget") not in (None, "radio", "select"):
            errors.append(_("%(where)s: “widget” must be “radio” or “select”.") % {"where": where})
    if errors:
        raise SchemaError(errors)
    parameter = Parameter(
        name=name,
        type=type_,
        label=raw.get("label") or name.replace("_", " ").capitalize(),
        help=raw.get("help", ""),
        placeholder=raw.get("placeholder", ""),
        required=required,
        default=raw.get("default"),
        choices=tuple(choices),
        min=numbers.get("min"),
        max=numbers.get("max"),
        step=numbers.get("step"),
        min_length=numbers.get("min_length"),
        max_length=numbers.get("max_length"),
        widget=raw.get("widget"),
    )
    if parameter.default is not None:
        # The default must pass the very field that will validate user input.
        try:
            parameter.to_form_field("en").clean(parameter.default)
        except forms.ValidationError as exc:
            raise SchemaError(
                [
                    _("%(where)s: the default %(default)r breaks its own constraints (%(problem)s)")
                    % {"where": where, "default": parameter.default, "problem": " ".join(exc.messages)}
                ]
            ) from None
        if type_ == "boolean" and not isinstance(parameter.default, bool):
            raise SchemaError([_("%(where)s: the default must be true or false.") % {"where": where}])
    return parameter


def _parse_choices(raw: Any, where: str, errors: list[str]) -> list[Choice]:
    if not isinstance(raw, list) or not raw:
        errors.append(_("%(where)s: a choice needs a non-empty list of “choices”.") % {"where": where})
        return []
    choices: list[Choice] = []
    for item in raw:
        if isinstance(item, str):
            choices.append(Choice(value=item, label=item))
        elif (
            isinstance(item, dict)
            and isinstance(item.get("value"), str)
            and _is_localized_text(item.get("label", item.get("value")))
        ):
            choices.append(Choice(value=item["value"], label=item.get("label", item["value"])))
        else:
            errors.append(
                _('%(where)s: each choice must be a text or {"value", "label"}.') % {"where": where}
            )
            return []
    values = [choice.value for choice in choices]
    if len(set(values)) != len(values):
        errors.append(_("%(where)s: the choices repeat a value.") % {"where": where})
    return choices
