"""Parsed parameters and everything derived from them.

A ``Parameter`` holds one parsed schema entry: the keys every type has as fields, the
type's own values (``ParameterType.fields``) as ``options``, read as attributes. What
follows from it (the Django form field with its HTML constraint attributes, the JSON
Schema the API publishes, a sample value) is asked of its type, one class per type in
``types``.
tests/test_form_parity.py checks that the form, the browser and JSON Schema accept and
reject the same values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.forms.renderers import Jinja2 as Jinja2Renderer
from django.forms.utils import ErrorDict
from django.utils.translation import gettext as _

from .types import PARAMETER_TYPES, TYPES, ParameterType
from .types.base import Choice, LocalizedText, SchemaError, localize
from .types.text import DEFAULT_MAX_SIZE

__all__ = [
    "DEFAULT_MAX_SIZE",
    "PARAMETER_TYPES",
    "Choice",
    "LocalizedText",
    "Parameter",
    "ParameterForm",
    "ParameterSchema",
    "SchemaError",
    "localize",
]


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
    # The type's own values (what its ``parse()`` returned), read as attributes: a
    # type's ``fields`` names them, with their defaults.
    options: tuple[tuple[str, Any], ...] = ()

    def __getattr__(self, name: str) -> Any:
        # Only for what the dataclass lacks: a value of the type's own (``parameter.min``).
        fields = TYPES[self.__dict__["type"]].fields if "type" in self.__dict__ else {}
        if name not in fields:
            raise AttributeError(f"A {self.__dict__.get('type')} parameter has no {name!r}.")
        for key, value in self.options:  # a handful of pairs: no dict built per read
            if key == name:
                return value
        return fields[name]

    @property
    def kind(self) -> ParameterType:
        return TYPES[self.type]

    @property
    def optional(self) -> bool:
        """May be left empty: not required, or a box (unticked is an answer: "no")."""
        return self.kind.always_optional or not self.required

    def html_attrs(self, language: str | None = None) -> dict[str, str]:
        """The constraint attributes the browser enforces (``required`` is added by
        Django from the same ``required``)."""
        return self.kind.html_attrs(self, language)

    def to_form_field(self, language: str | None = None) -> forms.Field:
        common: dict[str, Any] = {
            "label": localize(self.label, language),
            "help_text": localize(self.help, language),
            "required": not self.optional,
            "initial": self.kind.initial(self),
        }
        return self.kind.form_field(self, self.html_attrs(language), common, language)

    def form_data(self, value: Any, field: forms.Field) -> Any:
        """A JSON value as the form receives it from a browser; ValidationError for a
        value of the wrong JSON type (the form's own message where it has one)."""
        return self.kind.form_data(self, value, field)

    def to_json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"title": localize(self.label, "en")}
        if self.help:
            schema["description"] = localize(self.help, "en")
        schema.update(self.kind.json_schema(self))
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def sample_value(self) -> Any:
        """A value that satisfies the constraints, for trial renders on save."""
        return self.default if self.default is not None else self.kind.sample(self)


class ParameterForm(forms.Form):
    """The base of every generated form: fields in layout order, groups as sections,
    hidden parameters' fixed values added to the cleaned data (or, in a form whose
    template lets a link set them, hidden fields that fall back to those values)."""

    # Widgets rendered by Jinja2, for speed (docs/architecture.md, "Form widgets on Jinja2").
    default_renderer = Jinja2Renderer()
    layout: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = ()
    fixed_values: ClassVar[dict[str, Any]] = {}
    # Hidden parameters this form carries as hidden fields (left empty, they keep their value).
    hidden_parameters: ClassVar[dict[str, Parameter]] = {}
    parameters: ClassVar[dict[str, Parameter]] = {}
    has_files: ClassVar[bool] = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleaned.update(self.fixed_values)
        for name, parameter in self.hidden_parameters.items():
            if name in cleaned and cleaned[name] in forms.Field.empty_values:
                cleaned[name] = parameter.default
        return cleaned

    @classmethod
    def from_query(cls, query: Any, initial: dict[str, Any] | None = None) -> ParameterForm:
        """The form filled from a link's query (``/t/<slug>/?topic=trams``): each value
        the form has a field for is checked by that field, as a submission's would be,
        and shown as given; an invalid one is shown with its error, as after a failed
        submit. Names the form has no field for (a fixed hidden parameter's included) are
        ignored, the other fields keep ``initial`` or their defaults, and a file can't be
        given this way. The form stays unbound: nothing is submitted."""
        values = dict(initial or {})
        errors: dict[str, list[str]] = {}
        for name, form_field in cls.base_fields.items():
            if name not in query or form_field.widget.needs_multipart_form:
                continue
            value = form_field.widget.value_from_datadict(query, {}, name)
            values[name] = value
            try:
                form_field.clean(value)
            except ValidationError as exc:
                errors[name] = list(exc.messages)
        form = cls(initial=values)
        if errors:
            # An unbound form has no errors of its own (Django would clean it to none):
            # these are the link's, shown as a failed submission's are.
            form._errors = ErrorDict(
                {
                    name: form.error_class(messages, renderer=form.renderer)
                    for name, messages in errors.items()
                },
                renderer=form.renderer,
            )
        return form

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        """(legend, fields) in order; the legend is empty for ungrouped fields."""
        return [(legend, [self[name] for name in names]) for legend, names in self.layout]

    @classmethod
    def validate_json(cls, raw: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
        """Validate API inputs (JSON values) with this very form: the same rules and
        messages as the browser's. An omitted parameter takes its default."""
        errors: dict[str, list[str]] = {}
        data: dict[str, Any] = {}
        settable = {**cls.parameters, **cls.hidden_parameters}
        for name in raw:
            if name in cls.fixed_values:
                errors[name] = [_("This value is fixed by the template and can't be set.")]
            elif name not in settable:
                errors[name] = [_("Unknown parameter.")]
        for name, parameter in settable.items():
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

    def form_class(
        self, language: str | None = None, *, settable_hidden: bool = False
    ) -> type[ParameterForm]:
        """The form; with ``settable_hidden`` (the template's ``allow_prefill_hidden``), its
        hidden parameters are hidden fields, checked by their own type's field, that a
        link may fill (a file parameter stays fixed: no link carries a file)."""
        layout = self.layout(language)
        fields: dict[str, Any] = {}
        for _legend, members in layout:
            for parameter in members:
                fields[parameter.name] = parameter.to_form_field(language)
        settable = [p for p in self.parameters if p.hidden and settable_hidden and not p.kind.takes_files]
        for parameter in settable:
            field = parameter.to_form_field(language)
            field.widget = field.hidden_widget()
            field.required = False  # left empty, it keeps its fixed value
            fields[parameter.name] = field
        attrs = {
            **fields,
            "layout": tuple((legend, tuple(p.name for p in members)) for legend, members in layout),
            "fixed_values": {p.name: p.default for p in self.parameters if p.hidden and p not in settable},
            "hidden_parameters": {p.name: p for p in settable},
            "parameters": {p.name: p for p in self.visible},
            "has_files": any(p.kind.takes_files for p in self.visible),
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
