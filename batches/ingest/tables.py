"""What every table read from a file shares: headers, lazy numbered rows, limits.

A ``Table`` is opened once (its headers read and checked) and can then be read any
number of times: each ``rows()`` call starts again from the top of the stream, so the
web can validate every row, then create them, without holding the file in memory.

Rows are numbered from 1 below the header, blank rows counted (they are skipped, not
renumbered), so row 7 of an error is the 8th row of a spreadsheet whose first row is the
header, and a JSON Lines row's number is its line's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, ClassVar

from django.utils.translation import gettext as _

from .errors import IngestError

if TYPE_CHECKING:
    from .cells import CellReading

# A file with more columns is not a table of inputs; the bound also caps each row's dict.
MAX_COLUMNS = 500
# Warnings are shown to a person: a few distinct ones say it; thousands would not.
MAX_WARNINGS = 20
NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")


@dataclass(frozen=True)
class UnreadableCell:
    """A cell the file has but whose value can't be taken (an XLSX formula without a
    saved value, or one whose value is an error): an error for its row if a parameter
    reads that column, nothing if none does."""

    message: str

    def __str__(self) -> str:
        return ""


def header_key(text: str) -> str:
    """A header as two spellings of it compare: NFKC, whitespace collapsed, case-folded."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def column_letter(index: int) -> str:
    """A 0-based column position as spreadsheets name it: 0 → A, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def too_many_rows(limit: int) -> IngestError:
    return IngestError(
        _("This file has more than %(limit)s rows, the limit of your plan.") % {"limit": f"{limit:,}"},
        code="too_many_rows",
    )


def _looks_like_a_number(text: str) -> bool:
    # Not float(): "nan" and "inf" are names a column may have.
    return NUMBER.fullmatch(text.strip()) is not None


class Table:
    """A table of rows read lazily from a seekable stream; see the module docstring."""

    format_name: ClassVar[str]
    # How this table's cells become form data (text cells, or JSON values).
    cells: CellReading

    def __init__(self, stream: IO[bytes] | None, *, name: str = "", max_rows: int | None = None) -> None:
        self.stream = stream
        self.name = name
        self.max_rows = max_rows
        self.headers: list[str] = []
        self.sheets: list[str] = []
        self.sheet = ""
        self.warnings: list[str] = []
        # Set by each complete pass of rows(): blank rows skipped, and rows read.
        self.blank_lines = 0
        self.row_count = 0
        self._warned: set[str] = set()

    def open(self) -> Table:
        """Read and check the headers (IngestError when they can't be used)."""
        raise NotImplementedError

    def _numbered(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        """(number, cells) from the top, None for a blank row."""
        raise NotImplementedError

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(number, {header: cell}) for every row that is not blank, from the top."""
        blank = count = 0
        for number, cells in self._numbered():
            if cells is None:
                blank += 1
                continue
            count += 1
            if self.max_rows is not None and count > self.max_rows:
                raise too_many_rows(self.max_rows)  # the first row past it: the rest is never read
            yield number, cells
        self.blank_lines, self.row_count = blank, count

    def warn(self, message: str, *, once: str = "") -> None:
        """Keep a warning for the person; ``once`` names a kind said only the first time
        (for the first row it concerns, not for each)."""
        if once:
            if once in self._warned:
                return
            self._warned.add(once)
        if message not in self.warnings and len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)

    def check_headers(self, headers: list[str], *, header_row: bool = True) -> list[str]:
        """The headers once each (a header row's trimmed, and naming every column, not
        holding data); IngestError naming the problem otherwise."""
        if header_row:
            headers = [header.strip() for header in headers]
        if header_row and not any(headers):
            raise IngestError(_("The first row must name the columns, and it is empty."), code="no_header")
        if len(headers) > MAX_COLUMNS:
            raise IngestError(
                _("The file has %(count)s columns; at most %(limit)s can be read.")
                % {"count": len(headers), "limit": MAX_COLUMNS},
                code="too_many_columns",
            )
        unnamed = [column_letter(index) for index, header in enumerate(headers) if not header]
        if header_row and unnamed:
            raise IngestError(
                _("The first row must name every column: column %(columns)s has no name.")
                % {"columns": ", ".join(unnamed)},
                code="no_header",
                column=unnamed[0],
            )
        if header_row and all(_looks_like_a_number(header) for header in headers):
            # A row of numbers is data: the file has no header row.
            raise IngestError(
                _(
                    "The first row must name the columns, but it holds data (%(cells)s). "
                    "Add a row with the column names at the top."
                )
                % {"cells": ", ".join(headers[:5])},
                code="no_header",
            )
        seen: dict[str, str] = {}
        repeated: list[str] = []
        for header in headers:
            key = header_key(header)
            if key in seen:
                repeated.append(f"“{seen[key]}” / “{header}”" if seen[key] != header else f"“{header}”")
            seen[key] = header
        if repeated:
            raise IngestError(
                _("Each column name must be used once; repeated: %(names)s.")
                % {"names": ", ".join(repeated)},
                code="duplicate_headers",
            )
        return headers


class GridTable(Table):
    """A table whose first non-blank row names the columns (CSV, XLSX)."""

    def _records(self) -> Iterator[list[Any]]:
        """Every row's cells from the top of the file, blank ones included."""
        raise NotImplementedError

    def header_cells(self, record: list[Any]) -> list[str]:
        """The header row as texts, trailing empty cells dropped."""
        cells = ["" if is_blank(cell) else str(cell) for cell in record]
        while cells and not cells[-1].strip():
            cells.pop()
        return cells

    def open(self) -> GridTable:
        records = self._records()
        try:
            header = next((record for record in records if not all(map(is_blank, record))), None)
        finally:
            records.close()
        if header is None:
            raise IngestError(_("The file is empty: it has no rows."), code="empty")
        self.headers = self.check_headers(self.header_cells(header))
        return self

    def _numbered(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        width = len(self.headers)
        records = self._records()
        try:
            for record in records:  # the blank rows above the header, then the header
                if not all(map(is_blank, record)):
                    break
            for number, record in enumerate(records, start=1):
                if all(map(is_blank, record)):
                    yield number, None
                    continue
                if len(record) > width and not all(map(is_blank, record[width:])):
                    self.warn(
                        _(
                            "Row %(row)s has cells to the right of the last named column "
                            "(%(column)s): they are not read."
                        )
                        % {"row": number, "column": column_letter(width - 1)},
                        once="cells_past_headers",
                    )
                cells = dict(zip(self.headers, record, strict=False))
                for header in self.headers[len(record) :]:
                    cells[header] = ""
                yield number, cells
        finally:
            records.close()
