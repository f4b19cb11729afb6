"""Which reader a file gets, and the limits checked before any of it is read."""

from __future__ import annotations

import io
from pathlib import PurePath
from typing import IO, ClassVar

from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from .csv_table import CsvTable
from .errors import IngestError
from .json_tables import JsonlTable
from .tables import Table
from .xlsx_table import XlsxTable

HEAD_BYTES = 8


class TableFormat:
    """One kind of file: how it is recognised, and its table class."""

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]] = ()
    content_types: ClassVar[tuple[str, ...]] = ()

    def claims(self, head: bytes) -> bool:
        """Whether the file's first bytes say it is of this kind, whatever its name."""
        return False

    def table(
        self, stream: IO[bytes], *, extension: str, name: str, sheet: str | None, max_rows: int | None
    ) -> Table:
        raise NotImplementedError


class CsvFormat(TableFormat):
    name = "csv"
    extensions = (".csv", ".tsv", ".tab", ".txt")
    content_types = ("text/csv", "application/csv", "text/tab-separated-values", "text/plain")

    def table(
        self, stream: IO[bytes], *, extension: str, name: str, sheet: str | None, max_rows: int | None
    ) -> Table:
        delimiter = "\t" if extension in (".tsv", ".tab") else None
        return CsvTable(stream, delimiter=delimiter, name=name, max_rows=max_rows)


class XlsxFormat(TableFormat):
    name = "xlsx"
    extensions = (".xlsx", ".xlsm")
    content_types = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel.sheet.macroenabled.12",
    )

    def claims(self, head: bytes) -> bool:
        return head.startswith(b"PK\x03\x04")  # a zip: whatever its name says, not text

    def table(
        self, stream: IO[bytes], *, extension: str, name: str, sheet: str | None, max_rows: int | None
    ) -> Table:
        return XlsxTable(stream, sheet=sheet, name=name, max_rows=max_rows)


class JsonlFormat(TableFormat):
    name = "jsonl"
    extensions = (".jsonl", ".ndjson", ".json")
    content_types = (
        "application/jsonl",
        "application/x-ndjson",
        "application/x-jsonlines",
        "application/json",
    )

    def table(
        self, stream: IO[bytes], *, extension: str, name: str, sheet: str | None, max_rows: int | None
    ) -> Table:
        return JsonlTable(stream, name=name, max_rows=max_rows)


class LegacyExcelFormat(TableFormat):
    """Excel 97–2003 (.xls): a binary format no streaming reader here takes; refused clearly."""

    name = "xls"
    extensions = (".xls",)
    content_types = ("application/vnd.ms-excel",)

    def claims(self, head: bytes) -> bool:
        return head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # the OLE2 container

    def table(
        self, stream: IO[bytes], *, extension: str, name: str, sheet: str | None, max_rows: int | None
    ) -> Table:
        raise IngestError(
            _("Excel 97–2003 workbooks (.xls) can't be read: save it as .xlsx or as CSV UTF-8."),
            code="unsupported_format",
        )


# Claimed by content first (in this order), then by extension, then by content type.
FORMATS: dict[str, TableFormat] = {
    kind.name: kind for kind in (LegacyExcelFormat(), XlsxFormat(), JsonlFormat(), CsvFormat())
}
DEFAULT_FORMAT = FORMATS["csv"]


def format_for(head: bytes, filename: str, content_type: str) -> TableFormat:
    for kind in FORMATS.values():
        if kind.claims(head):
            return kind
    extension = PurePath(filename or "").suffix.lower()
    for kind in FORMATS.values():
        if extension in kind.extensions:
            return kind
    bare_type = content_type.split(";")[0].strip().lower()
    for kind in FORMATS.values():
        if bare_type and bare_type in kind.content_types:
            return kind
    if not extension and head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return FORMATS["jsonl"]  # pasted or nameless: an object first is JSON Lines
    if extension:
        raise IngestError(
            _("Files ending in %(extension)s can't be read: upload CSV, XLSX or JSON Lines.")
            % {"extension": extension},
            code="unsupported_format",
        )
    return DEFAULT_FORMAT


def read_table(
    stream: IO[bytes],
    *,
    filename: str,
    content_type: str = "",
    sheet: str | None = None,
    max_rows: int | None = None,
    max_bytes: int | None = None,
) -> Table:
    """Open an uploaded file as a ``Table`` (its headers read and checked; rows read
    lazily by ``Table.rows()``). ``stream`` must be seekable: each pass seeks to 0.

    ``max_bytes`` is checked before anything is read, ``max_rows`` while rows are
    read (the first row past it stops the reading). IngestError names what is wrong."""
    if not stream.seekable():
        raise TypeError("read_table needs a seekable stream (each pass reads from the start).")
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    if max_bytes is not None and size > max_bytes:
        raise IngestError(
            _("This file is %(size)s; the limit of your plan is %(limit)s.")
            % {"size": filesizeformat(size), "limit": filesizeformat(max_bytes)},
            code="too_big",
        )
    if size == 0:
        raise IngestError(_("The file is empty: it has no rows."), code="empty")
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    kind = format_for(head, filename, content_type)
    extension = PurePath(filename or "").suffix.lower()
    table = kind.table(stream, extension=extension, name=filename, sheet=sheet, max_rows=max_rows)
    return table.open()
