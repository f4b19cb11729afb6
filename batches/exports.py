"""Batch results as files (CSV, XLSX, JSON Lines), written as streams.

The input needs none of the engine's models: the web builds plain objects from its
BatchRow and Job querysets (``.iterator()``), and each format writes them a row at a time::

    columns = ExportColumns(inputs=batch.columns, configurations=["Claude", "GPT"])
    rows = ResultRows(lambda: group_rows(
        ((r.number, r.source, r.configuration.position, Result(output=..., ...)) for r in query.iterator()),
        configurations=2,
    ))
    response = StreamingHttpResponse(EXPORTS["xlsx"].stream(columns, rows), ...)

- ``ExportColumns.inputs``: the input column names in file order (``Batch.columns``);
  ``configurations``: one label per configuration, in order (one, for a plain batch:
  its result columns are then not prefixed); ``json_fields``: the top-level fields of
  JSON outputs to give columns of their own, or None to find them by a first pass over
  ``rows`` (which must then be re-iterable: ``ResultRows`` re-runs its factory).
- each row an ``ExportRow(number, source, results)``: ``source`` {input column: cell},
  ``results`` one ``Result`` per configuration in the same order (``group_rows`` builds
  them from BatchRows ordered by number, then configuration position).

Columns: the inputs, then for each configuration (prefixed "<label>: " when there are
several) output, ``output.<field>`` for each JSON field, status, error, input_tokens,
output_tokens, cost, job_url. Their names are identifiers, the same in every language,
so that programs reading an export don't depend on who made it. CSV and XLSX cells
that a spreadsheet would run as a formula are neutralised (``neutralise``); JSON Lines
is data and is not. XLSX is written by openpyxl's write-only mode to a temporary file
(a zip is only complete at its end), then streamed from it in chunks.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from promptlab.safe_load import load_json
from promptlab.spreadsheet import neutralise

CHUNK_BYTES = 32 * 1024
# Columns for the fields of JSON outputs: enough for any extraction, not one per stray key.
MAX_JSON_FIELDS = 50
# Excel's limit for one cell; a longer output is cut there in XLSX (CSV and JSONL keep it whole).
XLSX_CELL_LIMIT = 32_767
RESULT_COLUMNS = ("status", "error", "input_tokens", "output_tokens", "cost", "job_url")


@dataclass(frozen=True)
class Result:
    """One configuration's result for one row (empty while it has none)."""

    output: str = ""
    status: str = ""
    error: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: Decimal | None = None  # None: unknown (no price), never a made-up 0
    job_url: str = ""


@dataclass(frozen=True)
class ExportRow:
    number: int
    source: Mapping[str, Any]
    results: Sequence[Result]


@dataclass(frozen=True)
class ExportColumns:
    inputs: Sequence[str]
    configurations: Sequence[str] = ("",)
    json_fields: Sequence[str] | None = None


class ResultRows:
    """Rows that can be read more than once: each iteration calls ``factory`` again
    (a fresh ``.iterator()`` query), so the JSON-field pass holds nothing."""

    def __init__(self, factory: Callable[[], Iterable[ExportRow]]) -> None:
        self.factory = factory

    def __iter__(self) -> Iterator[ExportRow]:
        return iter(self.factory())


def group_rows(
    items: Iterable[tuple[int, Mapping[str, Any], int, Result]], *, configurations: int
) -> Iterator[ExportRow]:
    """ExportRows from (number, source, configuration position, result), ordered by
    number then position, as BatchRows come; a configuration a row lacks gets an empty Result."""
    for number, group in itertools.groupby(items, key=lambda item: item[0]):
        results = [Result()] * configurations
        sources: list[Mapping[str, Any]] = []
        for _number, source, position, result in group:
            results[position] = result
            sources.append(source)
        yield ExportRow(number, sources[0], results)  # a row's source is the same in every configuration


def json_object(output: str) -> dict[str, Any] | None:
    """The output as a JSON object, if it is one (inside a ```json fence too, as models
    often write it); None otherwise."""
    text = output.strip()
    if text.startswith("```"):
        text = text.partition("\n")[2].rstrip()
        text = text.removesuffix("```").rstrip()
    if not text.startswith("{"):
        return None
    try:
        value = load_json(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def json_fields(rows: Iterable[ExportRow]) -> list[str]:
    """The top-level fields of the JSON-object outputs, in the order first met."""
    if iter(rows) is rows:
        raise TypeError("Finding the JSON fields reads the rows twice: pass ResultRows, or json_fields.")
    found: dict[str, None] = {}
    for row in rows:
        for result in row.results:
            for key in json_object(result.output) or ():
                if len(found) < MAX_JSON_FIELDS:
                    found.setdefault(key, None)
    return list(found)


def _field_value(value: Any) -> Any:
    """A JSON value as one cell: scalars as they are, lists and objects as JSON text."""
    if value is None:
        return ""
    if isinstance(value, str | bool | int | float):
        return value
    return json.dumps(value, ensure_ascii=False)


class Layout:
    """The header and each row's cells, shared by the spreadsheet formats."""

    def __init__(self, columns: ExportColumns, rows: Iterable[ExportRow]) -> None:
        self.columns = columns
        self.fields = list(columns.json_fields) if columns.json_fields is not None else json_fields(rows)
        inputs = {name.casefold() for name in columns.inputs}
        names = ["output", *(f"output.{name}" for name in self.fields), *RESULT_COLUMNS]
        # A result column named as an input column would make the header ambiguous.
        self.result_names = [f"result.{name}" if name.casefold() in inputs else name for name in names]

    def header(self) -> list[str]:
        labels = self.columns.configurations
        prefixes = (
            [f"{label or index + 1}: " for index, label in enumerate(labels)] if len(labels) > 1 else [""]
        )
        return [*self.columns.inputs, *(prefix + name for prefix in prefixes for name in self.result_names)]

    def cells(self, row: ExportRow) -> list[Any]:
        # A JSON Lines upload's cells are JSON values: written as JSON, not as Python's repr.
        cells: list[Any] = [_field_value(row.source.get(name)) for name in self.columns.inputs]
        blocks = max(len(self.columns.configurations), 1)
        # One block per configuration, whatever the row has: the columns must line up.
        results = [*row.results[:blocks], *[Result()] * (blocks - len(row.results))]
        for result in results:
            parsed = json_object(result.output) if self.fields else None
            cells.append(result.output)
            cells.extend(_field_value((parsed or {}).get(name)) for name in self.fields)
            cells.extend(
                [
                    result.status,
                    result.error,
                    result.input_tokens,
                    result.output_tokens,
                    result.cost,
                    result.job_url,
                ]
            )
        return cells


class ResultExport:
    """One file format of the results."""

    name: ClassVar[str]
    extension: ClassVar[str]
    content_type: ClassVar[str]
    label: ClassVar[Any]

    def stream(self, columns: ExportColumns, rows: Iterable[ExportRow]) -> Iterator[bytes]:
        raise NotImplementedError

    def filename(self, stem: str) -> str:
        return f"{stem}.{self.extension}"


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"  # JSON's spelling, not Python's True
    return neutralise(value)


class _Line:
    """csv.writer writes each row to this and gets it back (no buffer kept)."""

    def write(self, text: str) -> str:
        return text


def csv_stream(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """CSV in UTF-8 with a BOM (so spreadsheet programs read accents right), every cell
    neutralised, yielded in chunks of about ``CHUNK_BYTES``."""
    writer = csv.writer(_Line())
    buffer = [codecs.BOM_UTF8.decode("utf-8"), writer.writerow([neutralise(cell) for cell in header])]
    size = 0
    for row in rows:
        line = writer.writerow([_csv_cell(cell) for cell in row])
        buffer.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")


class CsvExport(ResultExport):
    name = "csv"
    extension = "csv"
    content_type = "text/csv; charset=utf-8"
    label = _("CSV (.csv)")

    def stream(self, columns: ExportColumns, rows: Iterable[ExportRow]) -> Iterator[bytes]:
        layout = Layout(columns, rows)
        return csv_stream(layout.header(), (layout.cells(row) for row in rows))


def xlsx_value(value: Any) -> Any:
    """A cell as XLSX may hold it: text without the control characters XML refuses, at
    most Excel's length, neutralised; numbers stay numbers."""
    if value is None:
        return None
    if isinstance(value, bool | int | float | Decimal):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    if len(text) > XLSX_CELL_LIMIT:
        text = text[: XLSX_CELL_LIMIT - 1] + "…"
    return neutralise(text)


class XlsxExport(ResultExport):
    name = "xlsx"
    extension = "xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    label = _("Excel workbook (.xlsx)")

    def stream(self, columns: ExportColumns, rows: Iterable[ExportRow]) -> Iterator[bytes]:
        layout = Layout(columns, rows)  # before the first chunk: the field pass needs no file
        return self._chunks(layout, rows)

    def _chunks(self, layout: Layout, rows: Iterable[ExportRow]) -> Iterator[bytes]:
        with tempfile.TemporaryFile(prefix="promptlab-export-") as file:
            book = Workbook(write_only=True)
            sheet = book.create_sheet("Results")
            sheet.freeze_panes = "A2"
            bold = Font(bold=True)
            header = []
            for name in layout.header():
                cell = WriteOnlyCell(sheet, value=xlsx_value(name))
                cell.font = bold
                header.append(cell)
            sheet.append(header)
            for row in rows:
                sheet.append([xlsx_value(cell) for cell in layout.cells(row)])
            book.save(file)
            file.seek(0)
            while chunk := file.read(CHUNK_BYTES):
                yield chunk


class JsonlExport(ResultExport):
    """One JSON object per row: ``{"row", "inputs", <the result>}`` for one configuration,
    ``{"row", "inputs", "results": [{"configuration", …}, …]}`` for several."""

    name = "jsonl"
    extension = "jsonl"
    content_type = "application/jsonl; charset=utf-8"
    label = _("JSON Lines (.jsonl)")

    @staticmethod
    def result(result: Result) -> dict[str, Any]:
        item: dict[str, Any] = {"output": result.output}
        if (parsed := json_object(result.output)) is not None:
            item["output_json"] = parsed
        item.update(
            status=result.status,
            error=result.error,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            cost=None if result.cost is None else str(result.cost),
            job_url=result.job_url,
        )
        return item

    def stream(self, columns: ExportColumns, rows: Iterable[ExportRow]) -> Iterator[bytes]:
        labels = list(columns.configurations)
        buffer: list[str] = []
        size = 0
        for row in rows:
            item: dict[str, Any] = {
                "row": row.number,
                "inputs": {name: row.source.get(name) for name in columns.inputs},
            }
            if len(labels) > 1:
                item["results"] = [
                    {"configuration": label, **self.result(result)}
                    for label, result in zip(labels, row.results, strict=False)
                ]
            else:
                item.update(self.result(row.results[0] if row.results else Result()))
            line = json.dumps(item, ensure_ascii=False, default=str) + "\n"
            buffer.append(line)
            size += len(line)
            if size >= CHUNK_BYTES:
                yield "".join(buffer).encode("utf-8")
                buffer, size = [], 0
        if buffer:
            yield "".join(buffer).encode("utf-8")


EXPORTS: dict[str, ResultExport] = {
    export.name: export for export in (CsvExport(), XlsxExport(), JsonlExport())
}


__all__ = [
    "EXPORTS",
    "ExportColumns",
    "ExportRow",
    "Result",
    "ResultExport",
    "ResultRows",
    "csv_stream",
    "group_rows",
    "json_fields",
    "json_object",
    "neutralise",
]
