"""Types with a range: integer, number and date."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import fields as schema_fields
from .base import (
    ParameterType,
    Problems,
    is_int,
    is_number,
    json_type,
    number_text,
    whole_pattern,
    with_nonempty,
)

if TYPE_CHECKING:
    from ..parameters import Parameter
    from ..regexes import PatternBudget


def _check_order(values: dict[str, Any], problems: Problems) -> None:
    if values.get("min") is not None and values.get("max") is not None and values["min"] > values["max"]:
        problems.add(_("“min” is above “max”."))


class NumberType(ParameterType):
    name = "number"
    keys = frozenset({"min", "max", "step"})
    fields: ClassVar[dict[str, Any]] = {"min": None, "max": None, "step": None}
    keywords = (("min", "minimum"), ("max", "maximum"), ("step", "multipleOf"))
    schema_type = "number"
    shows_placeholder = True
    field_class: ClassVar[type[forms.Field]] = forms.FloatField
    default_step: ClassVar[str] = "any"  # the step attribute when the author gives none

    def is_value(self, value: Any) -> bool:
        return is_number(value)

    def parse(self, raw: dict[str, Any], problems: Problems, budget: PatternBudget | None) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key in ("min", "max", "step"):
            value = raw.get(key)
            if value is not None and not self.is_value(value):
                problems.add(self.not_a_value_message(), key=key)
            else:
                values[key] = value
        step = values.get("step")
        if step is not None and step <= 0:
            problems.add(_("“step” must be above 0."))
            values["step"] = None
        elif step is not None and values.get("min") is not None:
            self._check_step_start(values["min"], step, problems)
        _check_order(values, problems)
        return values

    def not_a_value_message(self) -> str:
        return _("“%(key)s” must be a number.")

    @staticmethod
    def _check_step_start(least: float, step: float, problems: Problems) -> None:
        # The browser counts steps from `min`, JSON Schema's multipleOf from 0:
        # they agree only when `min` is itself a multiple of the step.
        try:
            off_step = Decimal(str(least)) % Decimal(str(step)) != 0
        except InvalidOperation:  # min/step needs more digits than Decimal keeps
            problems.add(_("“min” is too large for its “step”: use a larger step or a smaller min."))
        else:
            if off_step:
                problems.add(_("“min” must be a multiple of “step”."))

    def constraint_attrs(self, parameter: Parameter) -> dict[str, str]:
        attrs: dict[str, str] = {}
        if parameter.min is not None:
            attrs["min"] = number_text(parameter.min)
        if parameter.max is not None:
            attrs["max"] = number_text(parameter.max)
        attrs["step"] = number_text(parameter.step) if parameter.step else self.default_step
        return attrs

    def form_field(
        self, parameter: Parameter, attrs: dict[str, str], common: dict[str, Any], language: str | None
    ) -> forms.Field:
        validators: list[Any] = []
        if parameter.min is not None:
            validators.append(MinValueValidator(parameter.min))
        if parameter.max is not None:
            validators.append(MaxValueValidator(parameter.max))
        if parameter.step:
            validators.append(schema_fields.DecimalStepValidator(parameter.step))
        return self.field_class(widget=forms.NumberInput(attrs), validators=validators, **common)

    def form_data(self, parameter: Parameter, value: Any, field: forms.Field) -> Any:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(field.error_messages["invalid"], code="invalid")
        return str(value)

    def claims(self, schema_type: Any, prop: dict[str, Any]) -> bool:
        return schema_type == self.schema_type

    def sample(self, parameter: Parameter) -> Any:
        for bound in (parameter.min, parameter.max):
            if bound is not None:
                return bound
        return 0


class IntegerType(NumberType):
    name = "integer"
    schema_type = "integer"
    field_class = schema_fields.IntegerValueField
    default_step = "1"

    def is_value(self, value: Any) -> bool:
        return is_int(value)

    def not_a_value_message(self) -> str:
        return _("“%(key)s” must be a whole number.")

    def form_data(self, parameter: Parameter, value: Any, field: forms.Field) -> Any:
        data = super().form_data(parameter, value, field)
        return number_text(value) if data else data


def _is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


class DateType(ParameterType):
    name = "date"
    keys = frozenset({"min", "max"})
    fields: ClassVar[dict[str, Any]] = {"min": None, "max": None}
    # Not JSON Schema's own keywords, but the ones its date-aware tools (and files) use.
    keywords = (("min", "formatMinimum"), ("max", "formatMaximum"))
    lost_without_extension_keywords = gettext_lazy("the earliest and latest dates")
    schema_format = "date"

    def parse(self, raw: dict[str, Any], problems: Problems, budget: PatternBudget | None) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key in ("min", "max"):
            if key in raw and not _is_iso_date(raw[key]):
                problems.add(_("“%(key)s” must be a date written YYYY-MM-DD."), key=key)
            else:
                values[key] = raw.get(key)
        _check_order(values, problems)
        return values

    def constraint_attrs(self, parameter: Parameter) -> dict[str, str]:
        attrs: dict[str, str] = {}
        if parameter.min is not None:
            attrs["min"] = parameter.min
        if parameter.max is not None:
            attrs["max"] = parameter.max
        attrs["type"] = "date"
        return attrs

    def form_field(
        self, parameter: Parameter, attrs: dict[str, str], common: dict[str, Any], language: str | None
    ) -> forms.Field:
        validators: list[Any] = []
        if parameter.min is not None:
            validators.append(MinValueValidator(date.fromisoformat(parameter.min)))
        if parameter.max is not None:
            validators.append(MaxValueValidator(date.fromisoformat(parameter.max)))
        return schema_fields.IsoDateField(
            widget=forms.DateInput(attrs, format="%Y-%m-%d"), validators=validators, **common
        )

    def json_schema(self, parameter: Parameter) -> dict[str, Any]:
        # JSON Schema can't compare dates, but YYYY-MM-DD texts sort as dates do: the
        # bounds are also patterns, which state the range exactly.
        bounds = []
        if parameter.min is not None:
            bounds.append(schema_fields.date_bound_pattern(parameter.min, upper=False))
        if parameter.max is not None:
            bounds.append(schema_fields.date_bound_pattern(parameter.max, upper=True))
        optional = parameter.optional
        schema = {
            "type": json_type("string", optional),
            "pattern": whole_pattern([*bounds, schema_fields.DATE_PATTERN], optional=optional),
        }
        nonempty = {"format": "date", **self.keyword_values(parameter)}
        return with_nonempty(schema, nonempty, optional=optional, empty="")

    def claims(self, schema_type: Any, prop: dict[str, Any]) -> bool:
        return schema_type == "string" and prop.get("format") == "date"

    def from_property(
        self, prop: dict[str, Any], parameter: dict[str, Any], warnings: list[str], where: str
    ) -> bool:
        nullable = super().from_property(prop, parameter, warnings, where)
        for key in ("min", "max"):
            if key in parameter:
                parameter[key] = str(parameter[key])
        return nullable

    def sample(self, parameter: Parameter) -> Any:
        return parameter.min or parameter.max or "2000-01-01"
