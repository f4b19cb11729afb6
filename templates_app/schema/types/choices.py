"""Types a person picks rather than types: boolean, choice and multichoice."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .. import fields as schema_fields
from .base import (
    Choice,
    ParameterType,
    Problems,
    SchemaError,
    is_localized_text,
    json_type,
    localize,
    parse_counts,
    with_nonempty,
)

if TYPE_CHECKING:
    from ..parameters import Parameter
    from ..regexes import PatternBudget

RADIO_LIMIT = 5  # up to this many choices show as radio buttons, more as a select


def choice_value(choice: Any) -> str:
    """The value of a raw choice ("a" or {"value": "a", "label": …})."""
    return choice.get("value") if isinstance(choice, dict) else str(choice)


def parse_choices(raw: Any, problems: Problems) -> tuple[Choice, ...]:
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
            and is_localized_text(item.get("label", item["value"]))
        ):
            choices.append(Choice(value=item["value"], label=item.get("label", item["value"])))
        else:
            problems.add(_('each choice must be a non-empty text or {"value", "label"}.'))
            return ()
    values = [choice.value for choice in choices]
    if len(set(values)) != len(values):
        problems.add(_("the choices repeat a value."))
    return tuple(choices)


class BooleanType(ParameterType):
    name = "boolean"
    schema_type = "boolean"
    examples_are_placeholders = False
    always_optional = True  # unticked is an answer: "no"

    def check_default(self, parameter: Parameter, problems: Problems) -> None:
        if not isinstance(parameter.default, bool):
            problems.add(_("the default must be true or false."))

    def form_field(
        self, parameter: Parameter, attrs: dict[str, str], common: dict[str, Any], language: str | None
    ) -> forms.Field:
        return forms.BooleanField(widget=forms.CheckboxInput(attrs), **common)

    def form_data(self, parameter: Parameter, value: Any, field: forms.Field) -> Any:
        if value is None:
            return ""
        if not isinstance(value, bool):
            raise ValidationError(_("Enter true or false."), code="invalid")
        return value

    def claims(self, schema_type: Any, prop: dict[str, Any]) -> bool:
        return schema_type == "boolean"

    def sample(self, parameter: Parameter) -> Any:
        return True


class _ChoicesType(ParameterType):
    examples_are_placeholders = False

    def to_property(self, parameter: dict[str, Any], lost: Any) -> dict[str, Any]:
        prop = super().to_property(parameter, lost)
        if any(
            isinstance(c, dict) and localize(c.get("label", c.get("value")), "en") != c.get("value")
            for c in parameter.get("choices", [])
        ):
            lost(_("the choice labels"))
        if "widget" in parameter:
            lost(_("“widget”"))
        return prop


class ChoiceType(_ChoicesType):
    name = "choice"
    keys = frozenset({"choices", "widget"})
    fields: ClassVar[dict[str, Any]] = {"choices": (), "widget": None}
    claim_order = -1  # an enum of strings or numbers is a choice, whatever its type

    def parse(self, raw: dict[str, Any], problems: Problems, budget: PatternBudget | None) -> dict[str, Any]:
        choices = parse_choices(raw.get("choices"), problems)
        if raw.get("widget") not in (None, "radio", "select"):
            problems.add(_("“widget” must be “radio” or “select”."))
        return {"choices": choices, "widget": raw.get("widget")}

    def check_default(self, parameter: Parameter, problems: Problems) -> None:
        if parameter.default not in [c.value for c in parameter.choices]:
            problems.add(_("the default %(default)r is not one of the choices."), default=parameter.default)
        else:
            super().check_default(parameter, problems)

    def form_field(
        self, parameter: Parameter, attrs: dict[str, str], common: dict[str, Any], language: str | None
    ) -> forms.Field:
        choices = [(choice.value, localize(choice.label, language)) for choice in parameter.choices]
        uses_radios = parameter.widget == "radio" or (
            parameter.widget is None and len(parameter.choices) <= RADIO_LIMIT
        )
        if uses_radios:
            return forms.ChoiceField(choices=choices, widget=forms.RadioSelect(attrs), **common)
        if parameter.optional or parameter.default is None:
            # An empty first option: nothing is chosen for the person, and a required
            # select then carries `required` (HTML forbids it otherwise).
            choices = [("", _("(none)") if parameter.optional else _("Choose one")), *choices]
        return forms.ChoiceField(choices=choices, widget=forms.Select(attrs), **common)

    def form_data(self, parameter: Parameter, value: Any, field: forms.Field) -> Any:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValidationError(
                field.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
            )
        return value

    def json_schema(self, parameter: Parameter) -> dict[str, Any]:
        values: list[Any] = [choice.value for choice in parameter.choices]
        if parameter.optional:
            values += ["", None]
        return {"type": json_type("string", parameter.optional), "enum": values}

    def to_property(self, parameter: dict[str, Any], lost: Any) -> dict[str, Any]:
        prop = {"type": "string", "enum": [choice_value(c) for c in parameter.get("choices", [])]}
        return {**prop, **super().to_property(parameter, lost)}

    def claims(self, schema_type: Any, prop: dict[str, Any]) -> bool:
        return prop.get("enum") is not None and schema_type in (None, "string", "integer", "number")

    def from_property(
        self, prop: dict[str, Any], parameter: dict[str, Any], warnings: list[str], where: str
    ) -> bool:
        enum = prop.pop("enum")
        if not isinstance(enum, list) or not enum:
            raise SchemaError([_("%(where)s: “enum” must be a non-empty list.") % {"where": where}])
        values = [value for value in enum if value is not None]
        if any(not isinstance(value, str) for value in values):
            warnings.append(_("%(where)s: its choices were turned into text.") % {"where": where})
        parameter["choices"] = [str(value) for value in values]
        if prop.get("default") is not None:
            prop["default"] = str(prop["default"])
        return None in enum  # null among the choices: it may be left out

    def sample(self, parameter: Parameter) -> Any:
        return parameter.choices[0].value if parameter.choices else ""


class MultichoiceType(_ChoicesType):
    name = "multichoice"
    keys = frozenset({"choices", "min_items", "max_items"})
    fields: ClassVar[dict[str, Any]] = {"choices": (), "min_items": None, "max_items": None}
    keywords = (("min_items", "minItems"), ("max_items", "maxItems"))
    schema_type = "array"

    def parse(self, raw: dict[str, Any], problems: Problems, budget: PatternBudget | None) -> dict[str, Any]:
        values = parse_counts(raw, ("min_items", "max_items"), problems)
        values["choices"] = parse_choices(raw.get("choices"), problems)
        if values.get("min_items") and values["choices"] and values["min_items"] > len(values["choices"]):
            problems.add(_("“min_items” is more than the number of choices."))
        return values

    def form_field(
        self, parameter: Parameter, attrs: dict[str, str], common: dict[str, Any], language: str | None
    ) -> forms.Field:
        validators: list[Any] = [schema_fields.unique_items]
        if parameter.min_items:
            validators.append(schema_fields.ItemCountValidator(parameter.min_items, most=False))
        if parameter.max_items is not None:
            validators.append(schema_fields.ItemCountValidator(parameter.max_items, most=True))
        return forms.MultipleChoiceField(
            choices=[(choice.value, localize(choice.label, language)) for choice in parameter.choices],
            widget=forms.CheckboxSelectMultiple(attrs),
            validators=validators,
            **common,
        )

    def form_data(self, parameter: Parameter, value: Any, field: forms.Field) -> Any:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValidationError(field.error_messages["invalid_list"], code="invalid_list")
        return value

    def json_schema(self, parameter: Parameter) -> dict[str, Any]:
        optional = parameter.optional
        schema: dict[str, Any] = {
            "type": json_type("array", optional),
            "items": {"type": "string", "enum": [choice.value for choice in parameter.choices]},
            "uniqueItems": True,
        }
        if parameter.max_items is not None:
            schema["maxItems"] = parameter.max_items
        # No choice ticked is "not given": a required one has at least one.
        least = max(parameter.min_items or 0, 0 if optional else 1)
        return with_nonempty(schema, {"minItems": least} if least else {}, optional=optional, empty=[])

    def to_property(self, parameter: dict[str, Any], lost: Any) -> dict[str, Any]:
        prop = {
            "type": "array",
            "items": {"type": "string", "enum": [choice_value(c) for c in parameter.get("choices", [])]},
            "uniqueItems": True,
        }
        return {**prop, **super().to_property(parameter, lost)}

    def claims(self, schema_type: Any, prop: dict[str, Any]) -> bool:
        items = prop.get("items")
        return (
            schema_type == "array"
            and isinstance(items, dict)
            and isinstance(items.get("enum"), list)
            and bool(items["enum"])
        )

    def from_property(
        self, prop: dict[str, Any], parameter: dict[str, Any], warnings: list[str], where: str
    ) -> bool:
        items = prop.pop("items")
        parameter["choices"] = [str(value) for value in items["enum"]]
        super().from_property(prop, parameter, warnings, where)
        prop.pop("uniqueItems", None)
        extra = sorted(set(items) - {"type", "enum"})
        if extra:
            warnings.append(
                _("%(where)s: not imported: %(keys)s.")
                % {"where": where, "keys": ", ".join(f"items.{k}" for k in extra)}
            )
        return False

    def sample(self, parameter: Parameter) -> Any:
        return [c.value for c in parameter.choices[: max(parameter.min_items or 1, 1)]]
