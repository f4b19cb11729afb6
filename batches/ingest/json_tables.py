"""Tables of JSON objects: JSON Lines files (one object per line) and the API's rows.

Their columns are every key any row has, in the order first met, so the rows are read
once when the table is opened (the keys gathered, each line checked: an error names its
line before any work) and again, lazily, for each pass. Values stay JSON and take the
API's road through the form (``JsonCells``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from django.utils.translation import gettext as _

from promptlab.safe_load import TooDeeplyNested, find_nul, load_json

from .cells import JSON_CELLS
from .csv_table import CsvTable
from .errors import IngestError
from .tables import MAX_COLUMNS, Table, too_many_rows

# The longest line read, in characters; a longer one is refused before the rest of it is
# read (a 50 MB file without a newline would otherwise be held whole). A line is a whole
# row: this lets through one cell as long as the CSV reader takes (csv.field_size_limit(),
# 131,072 characters) even with every character escaped as \uXXXX, as json.dumps writes
# non-ASCII text by default (6 characters each), with room for the row's other cells. It
# is 1,048,576 characters, more than ten times a file parameter's default max_size (100,000).
MAX_LINE_CHARS = 8 * CsvTable.field_limit


class RecordTable(Table):
    """A table whose rows are JSON objects."""

    cells = JSON_CELLS

    def _records(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        """(number, object) from the top, None for a blank line."""
        raise NotImplementedError

    def open(self) -> RecordTable:
        keys: dict[str, None] = {}
        count = 0
        for _number, record in self._records():
            if record is None:
                continue
            count += 1
            if self.max_rows is not None and count > self.max_rows:
                raise too_many_rows(self.max_rows)
            for key in record:
                keys.setdefault(key, None)
            if len(keys) > MAX_COLUMNS:
                raise IngestError(
                    _("The rows have more than %(limit)s different keys; at most %(limit)s can be read.")
                    % {"limit": MAX_COLUMNS},
                    code="too_many_columns",
                )
        if count == 0:
            raise IngestError(_("The file is empty: it has no rows."), code="empty")
        self.headers = self.check_headers(list(keys), header_row=False)
        return self

    def _numbered(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        for number, record in self._records():
            yield number, None if record is None else {header: record.get(header) for header in self.headers}

    @staticmethod
    def checked(record: Any, number: int) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise IngestError(
                _("Row %(row)s must be a JSON object ({…}) of column names and values.") % {"row": number},
                code="not_an_object",
                row=number,
            )
        if find_nul(record):  # PostgreSQL's jsonb stores no NUL, and a row keeps all its cells
            raise IngestError(
                _("Row %(row)s contains the NUL character (U+0000), which can't be stored.")
                % {"row": number},
                code="nul",
                row=number,
            )
        return record


class JsonlTable(RecordTable):
    format_name = "jsonl"

    def _records(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        assert self.stream is not None
        self.stream.seek(0)
        text = io.TextIOWrapper(self.stream, encoding="utf-8-sig")
        number = 0
        try:
            # readline with a limit, not iteration, which reads a line whole however long.
            while line := text.readline(MAX_LINE_CHARS + 1):
                number += 1
                if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
                    raise IngestError(
                        _("Line %(line)s is longer than %(limit)s characters, the most a row can be.")
                        % {"line": number, "limit": f"{MAX_LINE_CHARS:,}"},
                        code="line_too_long",
                        row=number,
                    )
                if not line.strip():
                    yield number, None
                    continue
                try:
                    record = load_json(line)
                except TooDeeplyNested:
                    raise IngestError(
                        _("Line %(line)s nests its values too deeply.") % {"line": number},
                        code="bad_json",
                        row=number,
                    ) from None
                except json.JSONDecodeError as exc:
                    raise IngestError(
                        _("Line %(line)s is not valid JSON (at character %(column)s).")
                        % {"line": number, "column": exc.colno},
                        code="bad_json",
                        row=number,
                    ) from None
                yield number, self.checked(record, number)
        except UnicodeDecodeError:
            raise IngestError(
                _("Line %(line)s is not UTF-8 text: JSON Lines files must be UTF-8.") % {"line": number + 1},
                code="encoding",
                row=number + 1,
            ) from None
        finally:
            text.detach()  # the stream is the caller's: a wrapper must not close it


class JsonRowsTable(RecordTable):
    """The API's ``{"rows": [...]}``: already parsed, numbered from 1."""

    format_name = "rows"

    def __init__(self, rows: Iterable[Any], **kwargs: Any) -> None:
        super().__init__(None, **kwargs)
        self.items = rows if isinstance(rows, list) else list(rows)

    def _records(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        for number, record in enumerate(self.items, start=1):
            yield number, self.checked(record, number)


def table_from_rows(rows: Iterable[Any], *, max_rows: int | None = None, name: str = "api") -> JsonRowsTable:
    """A Table over JSON objects the API was sent; IngestError names a row that isn't one."""
    return JsonRowsTable(rows, name=name, max_rows=max_rows).open()


def read_jsonl(stream: IO[bytes], *, name: str = "", max_rows: int | None = None) -> JsonlTable:
    return JsonlTable(stream, name=name, max_rows=max_rows).open()
