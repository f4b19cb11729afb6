"""Every row through the template's own form class, the single form's, before anything runs.

``validate_rows`` reads the whole table once and counts: valid and invalid rows, distinct
inputs (identical rows run once), the first ``ERRORS_KEPT`` errors in the person's
language, and the prompt length of each distinct input (for the estimate). Then
``iter_valid_rows`` reads it again, lazily, for the create pass. Neither keeps rows: a
10,000-row file costs the memory of one row and a digest per distinct input.

A row is checked as the API checks a submission: a cell left empty (a column the file
lacks included) is "not given" and takes the parameter's default; the form's own fields
say what is wrong, so a cell longer than its parameter allows gets the very message the
single form shows. A row whose inputs the template can't be filled in with is an error
too: finding that out later would cost a job per row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from templates_app.forms import parameter_form_class
from templates_app.models import TemplateVersion
from templates_app.rendering import PromptRenderError
from templates_app.schema import localize

from ..exports import csv_stream
from .mapping import Mapping
from .tables import Table, UnreadableCell

# Kept for the error table and Batch.errors; the rest are counted (errors_csv can stream all).
ERRORS_KEPT = 1000


@dataclass(frozen=True)
class RowError:
    """One problem: ``row`` as the table numbers it, ``column`` as the file names it
    (a parameter's label when no column feeds it; empty for the whole row)."""

    row: int
    column: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class Validation:
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    distinct: int = 0
    blank_lines: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    warnings: list[str] = field(default_factory=list)
    # Characters of the system and user prompts summed over the distinct valid inputs.
    prompt_characters: int = 0

    @property
    def errors_truncated(self) -> bool:
        return self.error_count > len(self.errors)

    def draft_fields(self) -> dict[str, Any]:
        """The validation summary a draft Batch keeps (keywords of ``services.create_draft``
        and ``Batch.record_check``); ``estimate`` needs only its distinct rows and prompt length."""
        return {
            "valid_rows": self.valid,
            "invalid_rows": self.invalid,
            "blank_lines": self.blank_lines,
            "distinct_rows": self.distinct,
            "prompt_characters": self.prompt_characters,
            "errors": [error.as_json() for error in self.errors],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class CheckedRow:
    number: int
    inputs: dict[str, Any] | None  # the cleaned inputs; None when the row has errors
    source: dict[str, Any]  # every cell of the row, JSON values, in file order
    errors: list[RowError]
    key: bytes = b""
    prompt_characters: int = 0


def canonical_digest(inputs: dict[str, Any]) -> bytes:
    text = json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).digest()


class RowChecker:
    """Checks rows of one table against one version's form, in one language."""

    def __init__(self, version: TemplateVersion, table: Table, mapping: Mapping, language: str) -> None:
        self.version = version
        self.language = language
        self.form_class = parameter_form_class(version, language)
        self.cells = table.cells
        self.header_of = {name: header for header, name in mapping.columns.items()}
        # digest → prompt characters, or the reason the template can't be filled in.
        self.rendered: dict[bytes, int | str] = {}

    def check(self, number: int, cells: dict[str, Any]) -> CheckedRow:
        with translation.override(self.language):
            return self._check(number, cells)

    def _column(self, name: str) -> str:
        header = self.header_of.get(name)
        if header is not None:
            return header
        return localize(self.form_class.parameters[name].label, self.language)

    def _check(self, number: int, cells: dict[str, Any]) -> CheckedRow:
        source = {
            header: "" if isinstance(value, UnreadableCell) else value for header, value in cells.items()
        }
        data: dict[str, Any] = {}
        problems: dict[str, list[str]] = {}
        for name, parameter in self.form_class.parameters.items():
            form_field = self.form_class.base_fields[name]
            header = self.header_of.get(name)
            value = cells.get(header) if header is not None else None
            try:
                if header is not None and self.cells.given(value):
                    data[name] = self.cells.form_data(parameter, value, form_field)
                elif parameter.default is not None:
                    data[name] = parameter.form_data(parameter.default, form_field)
            except ValidationError as exc:
                problems[name] = list(exc.messages)
        form = self.form_class(data=data)
        valid = form.is_valid()
        for name, messages in form.errors.items():
            problems.setdefault(name, [str(message) for message in messages])
        if problems or not valid:
            errors = [
                RowError(number, "" if name == "__all__" else self._column(name), message)
                for name, messages in problems.items()
                for message in messages
            ]
            return CheckedRow(number, None, source, errors)
        inputs = form.cleaned_data
        key = canonical_digest(inputs)
        rendered = self.rendered.get(key)
        if rendered is None:
            rendered = self.rendered[key] = self._render(inputs)
        if isinstance(rendered, str):
            return CheckedRow(number, None, source, [RowError(number, "", rendered)])
        return CheckedRow(number, inputs, source, [], key, rendered)

    def _render(self, inputs: dict[str, Any]) -> int | str:
        try:
            system_prompt, prompt = self.version.render(inputs)
        except PromptRenderError as exc:
            return _("This template could not be filled in: %(problem)s") % {"problem": exc}
        return len(system_prompt) + len(prompt)


def checked_rows(
    version: TemplateVersion, table: Table, mapping: Mapping, language: str
) -> Iterator[CheckedRow]:
    checker = RowChecker(version, table, mapping, language)
    for number, cells in table.rows():
        yield checker.check(number, cells)


def validate_rows(version: TemplateVersion, table: Table, mapping: Mapping, language: str) -> Validation:
    """Read every row of ``table`` and count (see the module docstring). IngestError
    (a row limit, a file that stops being readable) propagates: nothing was created."""
    result = Validation()
    distinct: set[bytes] = set()
    for row in checked_rows(version, table, mapping, language):
        result.rows += 1
        if row.inputs is None:
            result.invalid += 1
            result.error_count += len(row.errors)
            result.errors.extend(row.errors[: max(ERRORS_KEPT - len(result.errors), 0)])
            continue
        result.valid += 1
        if row.key not in distinct:
            distinct.add(row.key)
            result.prompt_characters += row.prompt_characters
    result.distinct = len(distinct)
    result.blank_lines = table.blank_lines
    result.warnings = [*table.warnings, *mapping.warnings]
    if result.rows == 0:
        with translation.override(language):
            result.warnings.append(_("The file has no rows below the column names."))
    return result


def iter_valid_rows(
    version: TemplateVersion, table: Table, mapping: Mapping, language: str
) -> Iterator[tuple[int, dict[str, Any], dict[str, Any]]]:
    """(number, cleaned inputs, source cells) for each valid row, read lazily: the
    create pass, which ``services.create_batch`` takes as its rows."""
    for row in checked_rows(version, table, mapping, language):
        if row.inputs is not None:
            yield row.number, row.inputs, row.source


def iter_errors(
    version: TemplateVersion, table: Table, mapping: Mapping, language: str
) -> Iterator[RowError]:
    """Every error, not only the first ``ERRORS_KEPT`` (for the whole error table's CSV)."""
    for row in checked_rows(version, table, mapping, language):
        yield from row.errors


def errors_csv(errors: Iterable[RowError], *, language: str | None = None) -> Iterator[bytes]:
    """The error table as CSV (UTF-8 with a BOM, for spreadsheets), cells neutralised."""
    with translation.override(language or translation.get_language()):
        header = [
            pgettext("batch error table", "Row"),
            pgettext("batch error table", "Column"),
            pgettext("batch error table", "Message"),
        ]
    return csv_stream(header, ([error.row, error.column, error.message] for error in errors))
