"""XLSX workbooks, read with openpyxl's read-only mode: a sheet's XML is parsed as it is
read, a row at a time (the shared-strings table, bounded below, is the one part held).

A formula's value is its cached one, what the spreadsheet program last computed. The
mode that gives cached values (``data_only=True``) shows a formula never computed (files
written by programs rather than people) as an empty cell, and only the other mode shows
which cells hold formulas. So the sheet is read in that other mode, and from its first
formula on a second read-only workbook over the same stream is read in step for the
saved values (a sheet without formulas is read once). A formula cell without a value, or
whose value is an error (#DIV/0!…), becomes an ``UnreadableCell`` naming the cell: an
error for its row if a parameter reads that column, nothing otherwise.
"""

from __future__ import annotations

import contextlib
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from itertools import zip_longest
from typing import IO, Any

from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from openpyxl import load_workbook
from openpyxl.cell.cell import ERROR_CODES
from openpyxl.workbook.workbook import Workbook

from templates_app.schema.types.base import number_text

from .cells import TEXT_CELLS
from .errors import IngestError
from .tables import GridTable, UnreadableCell, column_letter

# The shared-strings table is read whole by openpyxl: a small zip can hold a huge one.
MAX_SHARED_STRINGS_BYTES = 100_000_000

# What openpyxl's read-only rows raise for a damaged sheet. load_workbook reads only the
# sheet's first bytes (its size); the rest of its XML is unpacked and parsed as rows are
# asked for, so a damaged sheet fails half-way through a pass, not when it is opened:
# - SyntaxError: the XML is cut or not well-formed (ElementTree's ParseError, and lxml's
#   XMLSyntaxError should openpyxl ever use lxml, are both SyntaxErrors);
# - zipfile.BadZipFile: the member's CRC-32 is wrong (checked when its end is unpacked);
# - zlib.error: its compressed data is corrupt; EOFError: that data ends too soon;
# - ValueError: a cell's number, boolean, date or reference can't be converted (openpyxl
#   calls int() and float() on what the XML says); IndexError: a cell names a shared text
#   the table lacks.
# Only openpyxl's own next() is inside the try (see _parsed), so none of these is caught
# from our code.
SHEET_DAMAGE: tuple[type[BaseException], ...] = (
    SyntaxError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    IndexError,
)


def damaged_sheet(sheet: str) -> IngestError:
    return IngestError(
        _(
            "The sheet “%(sheet)s” of this workbook is damaged and can't be read. Open the file "
            "in your spreadsheet program and save it again as .xlsx, or as CSV UTF-8."
        )
        % {"sheet": sheet},
        code="bad_xlsx",
    )


def _parsed[Row](rows: Iterator[Row], sheet: str) -> Iterator[Row]:
    """openpyxl's rows of ``sheet``, a damaged sheet's error as an IngestError naming it."""
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except SHEET_DAMAGE as exc:
            raise damaged_sheet(sheet) from exc
        yield row


def cell_text(value: Any) -> str:
    """A typed cell as the form's text: numbers as written (1, not 1.0), dates as
    YYYY-MM-DD (what a date parameter takes), true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


class XlsxTable(GridTable):
    format_name = "xlsx"
    cells = TEXT_CELLS

    def __init__(self, stream: IO[bytes], *, sheet: str | None = None, **kwargs: Any) -> None:
        super().__init__(stream, **kwargs)
        self.requested_sheet = sheet

    def _workbook(self, *, data_only: bool) -> Workbook:
        assert self.stream is not None
        self.stream.seek(0)
        try:
            return load_workbook(self.stream, read_only=True, data_only=data_only)
        except Exception:  # openpyxl raises a dozen kinds for a malformed file: all mean this
            raise IngestError(
                _(
                    "This file can't be read as an Excel workbook (.xlsx). Save it from your "
                    "spreadsheet program as .xlsx or as CSV UTF-8."
                ),
                code="bad_xlsx",
            ) from None

    def _check_shared_strings(self) -> None:
        assert self.stream is not None
        self.stream.seek(0)
        with contextlib.suppress(zipfile.BadZipFile), zipfile.ZipFile(self.stream) as archive:
            size = sum(
                info.file_size for info in archive.infolist() if info.filename.endswith("sharedStrings.xml")
            )
            if size > MAX_SHARED_STRINGS_BYTES:
                raise IngestError(
                    _("This workbook's texts take %(size)s once unpacked; at most %(limit)s can be read.")
                    % {"size": filesizeformat(size), "limit": filesizeformat(MAX_SHARED_STRINGS_BYTES)},
                    code="too_big",
                )

    def open(self) -> XlsxTable:
        self._check_shared_strings()
        workbook = self._workbook(data_only=True)
        try:
            self.sheets = [sheet.title for sheet in workbook.worksheets]
            self.sheet = self._choose_sheet(workbook)
        finally:
            workbook.close()
        super().open()
        return self

    def _choose_sheet(self, workbook: Workbook) -> str:
        if not self.sheets:  # only chart sheets
            raise IngestError(_("The file is empty: it has no rows."), code="empty")
        if self.requested_sheet is not None:
            if self.requested_sheet not in self.sheets:
                raise IngestError(
                    _("The workbook has no sheet “%(sheet)s”; its sheets: %(sheets)s.")
                    % {"sheet": self.requested_sheet, "sheets": ", ".join(self.sheets)},
                    code="unknown_sheet",
                    choices=self.sheets,
                )
            return self.requested_sheet
        if len(self.sheets) == 1:
            return self.sheets[0]
        # Empty sheets (Excel's Sheet2, Sheet3) are no choice; each check stops at the first value.
        with_values = [sheet.title for sheet in workbook.worksheets if _has_values(sheet)]
        if len(with_values) == 1:
            return with_values[0]
        raise IngestError(
            _("This workbook has several sheets (%(sheets)s): choose the one to read.")
            % {"sheets": ", ".join(with_values or self.sheets)},
            code="choose_sheet",
            choices=with_values or self.sheets,
        )

    def _records(self) -> Iterator[list[Any]]:
        formulas_book = self._workbook(data_only=False)
        values_book: Workbook | None = None
        try:
            sheet = formulas_book[self.sheet]
            sheet.reset_dimensions()  # some programs write a wrong size (openpyxl would stop there)
            values: Iterator[tuple[Any, ...]] | None = None
            values_at, value_row = 0, ()
            for sheet_row, cells in enumerate(_parsed(sheet.iter_rows(), self.sheet), start=1):
                if not any(cell.data_type == "f" for cell in cells):
                    yield [cell_text(cell.value) for cell in cells]
                    continue
                if values is None:  # the first formula: only now is the second reading needed
                    values_book = self._workbook(data_only=True)
                    values_sheet = values_book[self.sheet]
                    values_sheet.reset_dimensions()
                    values = _parsed(values_sheet.iter_rows(values_only=True), self.sheet)
                while values_at < sheet_row:
                    value_row, values_at = next(values, ()), values_at + 1
                yield [
                    _cell(cell, value, sheet_row, index)
                    for index, (cell, value) in enumerate(zip_longest(cells, value_row[: len(cells)]))
                ]
        finally:
            formulas_book.close()
            if values_book is not None:
                values_book.close()


def _has_values(sheet: Any) -> bool:
    sheet.reset_dimensions()
    rows = _parsed(sheet.iter_rows(values_only=True), sheet.title)
    return any(value is not None for row in rows for value in row)


def _cell(cell: Any, value: Any, sheet_row: int, index: int) -> Any:
    """A cell read with its formula (``cell``) and with its saved value (``value``)."""
    if cell.data_type == "f":
        where = f"{column_letter(index)}{sheet_row}"
        if value is None:
            return UnreadableCell(
                _(
                    "The formula in cell %(cell)s has no saved value: open the file in a spreadsheet "
                    "program and save it there (which calculates it), or replace the formula by its value."
                )
                % {"cell": where}
            )
        if isinstance(value, str) and value in ERROR_CODES:
            return UnreadableCell(
                _("The formula in cell %(cell)s gives the error %(error)s.") % {"cell": where, "error": value}
            )
        return cell_text(value)
    return cell_text(cell.value)
