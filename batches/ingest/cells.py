"""How a table's cells become the data the parameter form receives.

The form class decides what is valid, as it does for the single form; these classes say
only what a browser would have sent for a cell: a ticked box for "yes", the list of
ticked choices for "a, b". A spreadsheet's cells are text (``TextCells``); JSON Lines
and the API's rows hold JSON values, which take the API's road (``JsonCells``: each
type's ``form_data``). A cell left empty is "not given": the parameter takes its default,
as an omitted API value does.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from templates_app.schema import Parameter

from .tables import UnreadableCell, is_blank


def _same(text: str) -> str:
    return " ".join(text.split()).casefold()


def _find_choice(parameter: Parameter, text: str) -> str | None:
    """The value of the choice a text names by its value or its label in any language,
    whatever the case."""
    wanted = _same(text)
    for choice in parameter.choices:
        labels = choice.label.values() if isinstance(choice.label, dict) else [choice.label]
        if wanted == _same(choice.value) or any(wanted == _same(label) for label in labels):
            return choice.value
    return None


def _choice_value(parameter: Parameter, text: str) -> str:
    """The choice a cell names; the text unchanged when it names none (the form then
    says, in the person's language, that it is not one of the choices)."""
    found = _find_choice(parameter, text)
    return text if found is None else found


class TextCell:
    """A cell's text as a parameter of one type receives it (most: as typed)."""

    def form_data(self, parameter: Parameter, text: str) -> Any:
        return text


class BooleanCell(TextCell):
    # Both languages' words whatever the page's language: the file is data, not the page.
    TRUE: ClassVar[frozenset[str]] = frozenset({"true", "yes", "y", "1", "x", "on", "sim", "s", "verdadeiro"})
    FALSE: ClassVar[frozenset[str]] = frozenset({"false", "no", "n", "0", "off", "não", "nao", "falso"})

    def form_data(self, parameter: Parameter, text: str) -> Any:
        word = _same(text)
        if word in self.TRUE:
            return True
        if word in self.FALSE:
            return False
        # A box has no third answer; a checkbox would read any other text as ticked.
        raise ValidationError(_("Write yes or no (or true or false, 1 or 0)."), code="invalid")


class ChoiceCell(TextCell):
    def form_data(self, parameter: Parameter, text: str) -> Any:
        return _choice_value(parameter, text)


class MultichoiceCell(TextCell):
    """Choices separated by commas, or a JSON list (for a choice with a comma in it)."""

    def form_data(self, parameter: Parameter, text: str) -> Any:
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                items = json.loads(stripped)
            except ValueError:
                items = None
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                raise ValidationError(
                    _("Write the choices separated by commas, or as a JSON list of texts."),
                    code="invalid_list",
                )
        elif _find_choice(parameter, stripped) is not None:
            items = [stripped]  # one choice, whose own name may have a comma
        else:
            items = [item for item in (part.strip() for part in stripped.split(",")) if item]
        return [_choice_value(parameter, item) for item in items]


class DecimalCommaCell(TextCell):
    """A number written with a decimal comma (0,85; 1.234,5), as spreadsheets in Brazil and
    most of Europe write it in the semicolon-separated CSV they save, turned into the
    decimal point the form reads. Only a text with a comma is changed: "1.234" alone could
    be either convention, and stays as written."""

    PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"[+-]?(?:[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+),[0-9]+")

    def form_data(self, parameter: Parameter, text: str) -> Any:
        stripped = text.strip()
        if self.PATTERN.fullmatch(stripped):
            return stripped.replace(".", "").replace(",", ".")
        return text


class DayFirstDateCell(TextCell):
    """A date written day first (01/03/2026, 1.3.2026), as those same spreadsheets write
    it, turned into the YYYY-MM-DD the form reads; anything else stays as written."""

    PATTERN: ClassVar[re.Pattern[str]] = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})")

    def form_data(self, parameter: Parameter, text: str) -> Any:
        found = self.PATTERN.fullmatch(text.strip())
        if found is None:
            return text
        day, month, year = found.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"  # an impossible date: the form says so


PLAIN_CELL = TextCell()
TEXT_CELL_TYPES: dict[str, TextCell] = {
    "boolean": BooleanCell(),
    "choice": ChoiceCell(),
    "multichoice": MultichoiceCell(),
}


class CellReading:
    """How one kind of table's cells are read (one instance per kind)."""

    def given(self, value: Any) -> bool:
        raise NotImplementedError

    def form_data(self, parameter: Parameter, value: Any, field: forms.Field) -> Any:
        """The form data for a given cell; ValidationError when it can't be one."""
        raise NotImplementedError


class TextCells(CellReading):
    def __init__(self, types: dict[str, TextCell]) -> None:
        self.types = types

    def given(self, value: Any) -> bool:
        return isinstance(value, UnreadableCell) or not is_blank(value)

    def form_data(self, parameter: Parameter, value: Any, field: forms.Field) -> Any:
        if isinstance(value, UnreadableCell):
            raise ValidationError(value.message, code="unreadable")
        return self.types.get(parameter.type, PLAIN_CELL).form_data(parameter, str(value))


class JsonCells(CellReading):
    def given(self, value: Any) -> bool:
        return value is not None  # as the API's generate: null is "not given", "" is given

    def form_data(self, parameter: Parameter, value: Any, field: forms.Field) -> Any:
        return parameter.form_data(value, field)


TEXT_CELLS = TextCells(TEXT_CELL_TYPES)
# A CSV separated by semicolons is written where the comma is the decimal mark and the
# day comes first.
COMMA_DECIMAL_CONVENTION_CELLS = TextCells(
    {
        **TEXT_CELL_TYPES,
        "number": DecimalCommaCell(),
        "integer": DecimalCommaCell(),
        "date": DayFirstDateCell(),
    }
)
JSON_CELLS = JsonCells()
