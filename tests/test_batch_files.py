"""Batch files without a database but the price table: reading uploads as streams (every
bad input the issue lists), mapping columns, validating rows with the single form's class,
the error table, the estimate, result exports and word diffs."""

from __future__ import annotations

import csv
import io
import itertools
import json
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from openpyxl import Workbook, load_workbook

from batches.diff import word_diff
from batches.exports import EXPORTS, ExportColumns, ExportRow, Result, ResultRows, group_rows
from batches.ingest import (
    IngestError,
    Table,
    errors_csv,
    estimate,
    iter_valid_rows,
    map_columns,
    read_table,
    table_from_rows,
    validate_rows,
)
from batches.ingest.json_tables import MAX_LINE_CHARS
from providers.models import ModelPrice
from templates_app.models import TemplateVersion

SCHEMA: list[dict[str, Any]] = [
    {"name": "topic", "type": "string", "label": {"en": "Topic", "pt-br": "Assunto"}, "max_length": 20},
    {"name": "count", "type": "integer", "label": {"en": "Count", "pt-br": "Número de linhas"},
     "min": 1, "max": 5, "default": 3},
    {"name": "tone", "type": "choice", "label": {"en": "Tone", "pt-br": "Tom"}, "required": False,
     "choices": [{"value": "formal", "label": {"en": "Formal", "pt-br": "Formal"}},
                 {"value": "casual", "label": {"en": "Casual", "pt-br": "Descontraído"}}]},
    {"name": "rhymes", "type": "boolean", "label": {"en": "Rhymes", "pt-br": "Rima"}},
    {"name": "tags", "type": "multichoice", "choices": ["red", "green", "blue"], "required": False},
]  # fmt: skip
BODY = "Write {{ count }} lines about {{ topic }}{% if tone %} in a {{ tone }} tone{% endif %}."


def version_of(parameters: list[dict[str, Any]] = SCHEMA, body: str = BODY, **fields: Any) -> TemplateVersion:
    """An unsaved version: its form class and prompt need no database."""
    return TemplateVersion(parameters=parameters, body=body, **fields)


def table_of(content: str | bytes, filename: str = "rows.csv", **options: Any) -> Table:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return read_table(io.BytesIO(data), filename=filename, **options)


def rows_of(table: Table) -> list[tuple[int, dict[str, Any]]]:
    return list(table.rows())


def refusal(content: str | bytes, filename: str = "rows.csv", **options: Any) -> IngestError:
    with pytest.raises(IngestError) as caught:
        rows_of(table_of(content, filename, **options))
    return caught.value


def check(content: str, language: str = "en", version: TemplateVersion | None = None, **options: Any) -> Any:
    version = version or version_of()
    table = table_of(content, **options)
    mapping = map_columns(table.headers, version.schema)
    return validate_rows(version, table, mapping, language)


class GeneratedCsv(io.RawIOBase):
    """A seekable CSV of ``rows`` identical rows made on demand, never held whole; it
    counts the bytes read since the last rewind. ``header`` and ``line`` make it another
    file: a head, then ``rows`` times the same bytes."""

    HEADER = b"topic,count,rhymes\n"
    LINE = b"trams,3,yes\n"

    def __init__(self, rows: int, *, header: bytes = HEADER, line: bytes = LINE) -> None:
        self.HEADER, self.LINE = header, line
        self.size = len(self.HEADER) + rows * len(self.LINE)
        self.position = 0
        self.read_since_rewind = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        if self.position == 0:
            self.read_since_rewind = 0
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.size - self.position)
        if count <= 0:
            return 0
        start = self.position
        if start < len(self.HEADER):
            data = self.HEADER[start:] + self.LINE * (count // len(self.LINE) + 1)
        else:
            offset = (start - len(self.HEADER)) % len(self.LINE)
            data = (self.LINE * (count // len(self.LINE) + 2))[offset:]
        buffer[:count] = data[:count]
        self.position += count
        self.read_since_rewind += count
        return count


# --- Encodings ----------------------------------------------------------------------


def test_utf8_with_and_without_a_bom_read_the_same() -> None:
    text = "topic,count\nCafé à noite,2\n"
    plain = rows_of(table_of(text))
    with_bom = table_of("\ufeff" + text)
    assert with_bom.headers == ["topic", "count"]
    assert rows_of(with_bom) == plain == [(1, {"topic": "Café à noite", "count": "2"})]
    assert with_bom.warnings == []


def test_utf16_with_a_bom_is_read_as_excel_unicode_text_saves_it() -> None:
    table = table_of("topic\tcount\nmaçã\t2\n".encode("utf-16"), filename="rows.txt")
    assert rows_of(table) == [(1, {"topic": "maçã", "count": "2"})]


def test_latin1_is_detected_and_read_with_a_warning() -> None:
    table = table_of("topic;count\nCoração;2\n".encode("cp1252"))
    assert rows_of(table) == [(1, {"topic": "Coração", "count": "2"})]
    assert "Latin-1" in table.warnings[0]


def test_a_file_that_starts_as_utf8_and_then_is_not_is_refused_naming_the_line() -> None:
    content = "topic,count\nCafé,1\n".encode() + "Coração,2\n".encode("cp1252")
    error = refusal(content)
    assert error.code == "encoding" and error.row == 3
    assert "Line 3" in error.message and "UTF-8" in error.message


def test_a_binary_file_is_refused_as_not_text() -> None:
    assert refusal(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", filename="rows.csv").code == "encoding"


# --- Delimiters, headers, blank lines -------------------------------------------------


def test_a_semicolon_delimiter_is_sniffed_even_with_commas_in_cells() -> None:
    table = table_of("topic;count\ntrams, buses and ferries;2\nbikes;3\n")
    assert table.headers == ["topic", "count"]
    assert rows_of(table)[0] == (1, {"topic": "trams, buses and ferries", "count": "2"})


def test_a_sep_line_excel_writes_names_the_delimiter() -> None:
    table = table_of("sep=;\r\ntopic;count\r\na,b;2\r\n")
    assert (table.headers, rows_of(table)) == (["topic", "count"], [(1, {"topic": "a,b", "count": "2"})])


def test_a_file_of_one_column_keeps_commas_in_its_cells() -> None:
    table = table_of('topic\ntrams, buses and ferries\n"quoted; too"\n')
    assert rows_of(table) == [(1, {"topic": "trams, buses and ferries"}), (2, {"topic": "quoted; too"})]
    assert table.warnings == []


def test_tabs_are_sniffed_and_a_tsv_name_says_tab() -> None:
    assert table_of("topic\tcount\na\t1\n").headers == ["topic", "count"]
    assert table_of("topic\n a, b \n", filename="rows.tsv").headers == ["topic"]


def test_a_file_without_a_header_row_is_refused() -> None:
    error = refusal("1,2\n3,4\n")
    assert error.code == "no_header"
    assert "first row" in error.message


def test_a_refusal_speaks_the_persons_language() -> None:
    with translation.override("pt-br"):
        error = refusal("topic,,count\na,b,1\n")
    assert error.message == "A primeira linha deve dar nome a todas as colunas: a coluna B não tem nome."


def test_a_header_cell_left_empty_is_refused_naming_its_column() -> None:
    error = refusal("topic,,count\na,b,1\n")
    assert (error.code, error.column) == ("no_header", "B")


def test_duplicate_headers_are_refused_whatever_their_case() -> None:
    error = refusal("topic,count,Topic \na,1,b\n")
    assert error.code == "duplicate_headers"
    assert "“topic” / “Topic”" in error.message


def test_an_empty_file_is_refused() -> None:
    assert refusal(b"").code == "empty"
    assert refusal("\n\n  \n").code == "empty"


def test_blank_lines_are_skipped_counted_and_keep_the_numbers_of_the_rows_after_them() -> None:
    table = table_of("\ntopic,count\na,1\n\n , \nb,2\n\n")
    assert [number for number, _cells in rows_of(table)] == [1, 4]
    assert table.blank_lines == 3
    assert table.row_count == 2


def test_cells_past_the_last_named_column_are_a_warning() -> None:
    table = table_of("topic,count\na,1,surprise\nb,2\n")
    assert rows_of(table)[0][1] == {"topic": "a", "count": "1"}
    assert "Row 1" in table.warnings[0]


# --- Limits and streaming ---------------------------------------------------------------


class Unreadable(io.BytesIO):
    def read(self, *args: Any) -> bytes:
        raise AssertionError("a file over the size limit must not be read")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read() -> None:
    with pytest.raises(IngestError) as caught:
        read_table(Unreadable(b"topic\n" + b"x\n" * 600), filename="rows.csv", max_bytes=1000)
    assert caught.value.code == "too_big"
    assert "limit of your plan" in caught.value.message


def test_a_file_over_the_row_limit_stops_at_the_first_row_past_it() -> None:
    stream = GeneratedCsv(rows=200_000)
    table = read_table(stream, filename="big.csv", max_rows=10)
    with pytest.raises(IngestError) as caught:
        rows_of(table)
    assert caught.value.code == "too_many_rows"
    assert "more than 10 rows" in caught.value.message
    assert stream.read_since_rewind < stream.size // 20


def test_a_large_csv_is_read_lazily_in_bounded_memory() -> None:
    stream = GeneratedCsv(rows=1_000_000)  # 12 MB, never held
    tracemalloc.start()
    try:
        table = read_table(stream, filename="big.csv")
        rows = table.rows()
        first = next(rows)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first == (1, {"topic": "trams", "count": "3", "rhymes": "yes"})
    # The first row came after reading a small part of the file, not all of it…
    assert stream.read_since_rewind < stream.size // 50
    # …and checking the encoding of all 12 MB never held more than a few chunks.
    assert peak < 2_000_000, peak
    rows.close()


def test_a_table_can_be_read_twice_for_the_validate_and_create_passes() -> None:
    table = table_of("topic,rhymes\na,yes\nb,no\n")
    assert rows_of(table) == rows_of(table)


# --- Mapping ---------------------------------------------------------------------------


def test_columns_map_by_name_or_label_in_either_language_whatever_the_case() -> None:
    schema = version_of().schema
    mapping = map_columns(["  TOPIC ", "numero  de LINHAS", "tone", "Rima", "notes"], schema)
    assert mapping.columns == {
        "  TOPIC ": "topic",
        "numero  de LINHAS": "count",
        "tone": "tone",
        "Rima": "rhymes",
    }
    assert mapping.unmatched_headers == mapping.extra == ["notes"]
    assert mapping.missing_optional == ["tags"] and mapping.missing_required == []
    assert mapping.is_complete
    assert "“notes”" in mapping.warnings[-1]


def test_a_missing_required_column_asks_for_the_mapping_step_and_overrides_fill_it() -> None:
    schema = version_of().schema
    mapping = map_columns(["subject", "rhymes"], schema)
    assert mapping.missing_required == ["topic"] and mapping.needs_mapping
    mapped = map_columns(["subject", "rhymes"], schema, overrides={"subject": "topic"})
    assert mapped.columns == {"subject": "topic", "rhymes": "rhymes"}
    assert not mapped.needs_mapping


def test_overrides_that_cant_apply_are_errors() -> None:
    schema = version_of().schema
    mapping = map_columns(
        ["a", "b"], schema, overrides={"a": "topic", "b": "topic", "c": "count", "rhymes": "nothing"}
    )
    assert len(mapping.errors) == 3
    assert not mapping.is_complete


def test_an_override_can_leave_a_matching_column_unused() -> None:
    mapping = map_columns(["topic", "count", "rhymes"], version_of().schema, overrides={"count": ""})
    assert "count" not in mapping.columns.values()
    assert mapping.missing_optional == ["count", "tone", "tags"]


# --- Validation -------------------------------------------------------------------------


def test_rows_go_through_the_single_forms_class_with_defaults_for_what_is_missing() -> None:
    version = version_of()
    table = table_of(
        'Assunto,Tom,rhymes,tags\ntrams,Descontraído,sim,"red, blue"\nbuses,,no,\ntrams,casual,1,"red,blue"\n'
    )
    mapping = map_columns(table.headers, version.schema)
    rows = list(iter_valid_rows(version, table, mapping, "en"))
    assert rows[0] == (
        1,
        {"topic": "trams", "count": 3, "tone": "casual", "rhymes": True, "tags": ["red", "blue"]},
        {"Assunto": "trams", "Tom": "Descontraído", "rhymes": "sim", "tags": "red, blue"},
    )
    assert rows[1][1] == {"topic": "buses", "count": 3, "tone": "", "rhymes": False, "tags": []}
    validation = validate_rows(version, table, mapping, "en")
    assert (validation.rows, validation.valid, validation.invalid, validation.distinct) == (3, 3, 0, 2)
    assert validation.prompt_characters == len("Write 3 lines about trams in a casual tone.") + len(
        "Write 3 lines about buses."
    )


def test_errors_name_the_row_and_the_files_column_in_the_persons_language() -> None:
    content = "Assunto,count,rhymes\n,9,talvez\nok,2,no\n"
    english = check(content)
    assert (english.valid, english.invalid, english.error_count) == (1, 1, 3)
    assert {(e.row, e.column) for e in english.errors} == {(1, "Assunto"), (1, "count"), (1, "rhymes")}
    portuguese = check(content, language="pt-br")
    messages = {error.column: error.message for error in portuguese.errors}
    assert messages["Assunto"] == "Este campo é obrigatório."
    assert "5" in messages["count"] and messages["count"] != "Ensure this value is less than or equal to 5."


def test_a_cell_longer_than_its_parameter_allows_gets_the_forms_own_message() -> None:
    validation = check(f"topic,rhymes\n{'x' * 21},no\n")
    form_class = version_of().schema.form_class("en")
    expected = form_class(data={"topic": "x" * 21}).errors["topic"][0]
    assert [(e.row, e.column, e.message) for e in validation.errors] == [(1, "topic", expected)]


def test_a_cell_longer_than_csv_reading_allows_is_refused_naming_its_line() -> None:
    error = refusal("topic,count\na,1\n" + "x" * 200_000 + ",2\n")
    assert (error.code, error.row) == ("bad_csv", 3)


def test_a_row_the_template_cant_be_filled_in_with_is_an_error() -> None:
    version = version_of(
        parameters=[{"name": "n", "type": "integer", "label": "N"}], body="{{ 10 // n }} parts"
    )
    validation = check("n\n2\n0\n", version=version)
    assert validation.valid == 1
    assert validation.errors[0].row == 2 and "could not be filled in" in validation.errors[0].message


def test_the_error_table_downloads_as_csv_with_formula_cells_neutralised() -> None:
    version = version_of()
    table = table_of('=HYPERLINK("http://x"),rhymes\n,no\n')
    mapping = map_columns(table.headers, version.schema, overrides={'=HYPERLINK("http://x")': "topic"})
    validation = validate_rows(version, table, mapping, "pt-br")
    body = b"".join(errors_csv(validation.errors, language="pt-br")).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(body))) == [
        ["Linha", "Coluna", "Mensagem"],
        ["1", '\'=HYPERLINK("http://x")', "Este campo é obrigatório."],
    ]


def test_only_the_first_thousand_errors_are_kept_but_all_are_counted() -> None:
    validation = check("topic,rhymes\n" + ",no\n" * 1005)
    assert (len(validation.errors), validation.error_count, validation.errors_truncated) == (1000, 1005, True)
    fields = validation.draft_fields()
    assert (fields["valid_rows"], fields["invalid_rows"], fields["distinct_rows"], len(fields["errors"])) == (
        0, 1005, 0, 1000,
    )  # fmt: skip
    assert fields["errors"][0] == {"row": 1, "column": "topic", "message": "This field is required."}


def test_decimal_commas_and_day_first_dates_are_read_in_a_csv_separated_by_semicolons_only() -> None:
    version = version_of(
        parameters=[{"name": "ratio", "type": "number", "label": "Ratio"}], body="{{ ratio }}"
    )
    semicolons = table_of("ratio;note\n0,85;a\n1.234,5;b\n2.5;c\n")
    mapping = map_columns(semicolons.headers, version.schema)
    assert [inputs["ratio"] for _n, inputs, _s in iter_valid_rows(version, semicolons, mapping, "en")] == [
        0.85, 1234.5, 2.5,
    ]  # fmt: skip
    commas = table_of('ratio,note\n"0,85",a\n')
    assert check_table(commas, version=version).errors[0].message == "Enter a number."
    dated = version_of(parameters=[{"name": "day", "type": "date", "label": "Day"}], body="{{ day }}")
    table = table_of("day;note\n01/03/2026;a\n2026-03-02;b\n31/02/2026;c\n")
    validation = check_table(table, version=dated)
    mapping = map_columns(table.headers, dated.schema)
    days = [inputs["day"] for _n, inputs, _s in iter_valid_rows(dated, table, mapping, "en")]
    assert days == ["2026-03-01", "2026-03-02"]
    assert validation.errors[0].row == 3


def test_yes_and_no_in_either_language_and_nothing_else_fill_a_box() -> None:
    validation = check("topic,rhymes\na,NÃO\nb,Yes\nc,maybe\n")
    assert validation.valid == 2
    assert validation.errors[0].row == 3 and validation.errors[0].column == "rhymes"


def test_no_translation_leaks_out_of_validation() -> None:
    check("topic,rhymes\n,no\n", language="pt-br")
    assert translation.get_language() in ("en", "en-us", None)


# --- XLSX --------------------------------------------------------------------------------


def workbook(sheets: dict[str, list[list[Any]]], *, cached: dict[str, str] | None = None) -> bytes:
    """An XLSX file; ``cached`` gives formula cells ("B2") the value a spreadsheet program
    would have saved (openpyxl writes formulas without one)."""
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    if not cached:
        return buffer.getvalue()
    patched = io.BytesIO()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                for cell, value in cached.items():
                    start = text.index(f'<c r="{cell}"')
                    end = text.index("</c>", start)
                    cell_xml = text[start:end].replace("<v />", f"<v>{value}</v>")
                    if value.startswith("#"):  # an error value, as Excel saves one
                        cell_xml = cell_xml.replace(f'<c r="{cell}"', f'<c r="{cell}" t="e"', 1)
                    text = text[:start] + cell_xml + text[end:]
                data = text.encode()
            target.writestr(item, data)
    return patched.getvalue()


def test_xlsx_cells_become_the_text_the_form_takes() -> None:
    content = workbook(
        {
            "Rows": [
                ["topic", "count", "when", "ratio", "rhymes"],
                ["trams", 2, datetime(2026, 3, 1), 0.5, True],
            ]
        }
    )
    table = table_of(content, filename="rows.xlsx")
    assert (table.headers, table.sheets, table.sheet) == (
        ["topic", "count", "when", "ratio", "rhymes"],
        ["Rows"],
        "Rows",
    )
    assert rows_of(table) == [
        (1, {"topic": "trams", "count": "2", "when": "2026-03-01", "ratio": "0.5", "rhymes": "true"})
    ]


def test_an_xlsx_with_several_sheets_asks_which_to_read() -> None:
    content = workbook({"Notes": [["read me"]], "Data": [["topic", "rhymes"], ["a", "no"]]})
    with pytest.raises(IngestError) as caught:
        table_of(content, filename="rows.xlsx")
    assert caught.value.code == "choose_sheet"
    assert caught.value.choices == ["Notes", "Data"]
    table = table_of(content, filename="rows.xlsx", sheet="Data")
    assert rows_of(table) == [(1, {"topic": "a", "rhymes": "no"})]
    with pytest.raises(IngestError) as unknown:
        table_of(content, filename="rows.xlsx", sheet="Dados")
    assert (unknown.value.code, unknown.value.choices) == ("unknown_sheet", ["Notes", "Data"])


def test_empty_sheets_are_no_choice() -> None:
    content = workbook({"Sheet1": [["topic"], ["a"]], "Sheet2": [], "Sheet3": []})
    assert table_of(content, filename="rows.xlsx").sheet == "Sheet1"


def test_xlsx_formulas_give_their_saved_values_or_an_error_naming_the_cell() -> None:
    rows = [["topic", "count", "rhymes", "notes"], ["a", "=1+1", "no", "=NOW()"], ["b", "=2+1", "no", ""]]
    content = workbook({"Rows": rows}, cached={"B2": "2"})
    table = table_of(content, filename="rows.xlsx")
    version = version_of()
    validation = validate_rows(version, table, map_columns(table.headers, version.schema), "en")
    assert validation.valid == 1  # row 1: B2 has its value; D2's missing one is in a column no one reads
    [error] = validation.errors
    assert (error.row, error.column) == (2, "count")
    assert "cell B3 has no saved value" in error.message


def test_an_xlsx_formula_whose_value_is_an_error_names_it() -> None:
    content = workbook({"Rows": [["topic", "rhymes"], ["=1/0", "no"]]}, cached={"A2": "#DIV/0!"})
    validation = check_table(table_of(content, filename="rows.xlsx"))
    assert validation.errors[0].message == "The formula in cell A2 gives the error #DIV/0!."


def test_files_that_are_not_workbooks_are_refused_clearly() -> None:
    assert refusal(b"PK\x03\x04 not really a zip", filename="rows.xlsx").code == "bad_xlsx"
    legacy = refusal(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, filename="rows.csv")
    assert legacy.code == "unsupported_format" and ".xls" in legacy.message
    assert refusal(b"%PDF-1.7", filename="rows.pdf").code == "unsupported_format"


# Enough rows that the sheet's XML is past the first chunk openpyxl's load_workbook reads
# (its size): the damage below is met only while the rows are read.
MANY_ROWS = [["topic", "rhymes"], *([f"topic {n}", "no"] for n in range(2_000))]
SHEET1 = "xl/worksheets/sheet1.xml"


def with_sheet1(content: bytes, change: Any) -> bytes:
    """The workbook with sheet1.xml's bytes replaced by ``change(them)``, stored again."""
    patched = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(patched, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, change(data) if item.filename == SHEET1 else data)
    return patched.getvalue()


def with_corrupt_sheet1_data(content: bytes) -> bytes:
    """The workbook with sheet1.xml's compressed data valid for its first half, then a
    deflate block of the reserved type 3 (which zlib refuses): sizes and CRC unchanged."""
    content = with_sheet1(content, lambda data: data)  # deflated, whatever openpyxl chose
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        info = archive.getinfo(SHEET1)
        xml = archive.read(SHEET1)
    assert info.compress_type == zipfile.ZIP_DEFLATED
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    damaged = compressor.compress(xml[: len(xml) // 2]) + compressor.flush(zlib.Z_SYNC_FLUSH) + b"\x07"
    assert len(damaged) < info.compress_size
    header = info.header_offset
    start = header + 30 + int.from_bytes(content[header + 26 : header + 28], "little")
    start += int.from_bytes(content[header + 28 : header + 30], "little")
    end = start + info.compress_size
    return content[:start] + damaged.ljust(info.compress_size, b"\x00") + content[end:]


def with_wrong_sheet1_crc(content: bytes) -> bytes:
    """The workbook with sheet1.xml's CRC-32 wrong in both its headers."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        crc = archive.getinfo(SHEET1).CRC.to_bytes(4, "little")
    assert content.count(crc) == 2  # the local header's and the central directory's
    return content.replace(crc, bytes(byte ^ 0xFF for byte in crc))


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda content: with_sheet1(content, lambda xml: xml[: len(xml) // 2]), "“Rows”"),  # ParseError
        (with_corrupt_sheet1_data, "“Rows”"),  # zlib.error
        (with_wrong_sheet1_crc, "“Rows”"),  # zipfile.BadZipFile, at the member's end
        (lambda content: with_sheet1(content, lambda xml: xml.replace(b"<v>", b"<v>x", 1)), "“Rows”"),
        (lambda content: b"topic,rhymes\na,no\n", "can't be read as an Excel workbook"),  # not a zip
    ],
    ids=["cut-in-half", "corrupt-deflate", "wrong-crc", "number-that-is-not", "not-a-zip"],
)
def test_a_damaged_xlsx_is_refused_clearly_wherever_the_damage_is(damage: Any, said: str) -> None:
    content = damage(workbook({"Rows": [*MANY_ROWS, ["last", 3]]}))
    error = refusal(content, filename="rows.xlsx")
    assert error.code == "bad_xlsx"
    assert said in error.message


def test_a_damaged_sheet_is_named_when_choosing_which_sheet_to_read() -> None:
    content = workbook({"Notes": [["read me"]], "Data": [["topic"], ["a"]]})
    # Cut just inside <sheetData>: its size is read, the first row never is.
    damaged = with_sheet1(content, lambda xml: xml[: xml.index(b"<sheetData>") + len(b"<sheetData>") + 5])
    error = refusal(damaged, filename="rows.xlsx")
    assert error.code == "bad_xlsx"
    assert "“Notes”" in error.message and "damaged" in error.message


# --- JSON Lines and the API's rows ---------------------------------------------------------


def check_table(table: Table, language: str = "en", version: TemplateVersion | None = None) -> Any:
    version = version or version_of()
    return validate_rows(version, table, map_columns(table.headers, version.schema), language)


def test_json_lines_rows_take_the_apis_road_and_blank_lines_are_counted() -> None:
    content = (
        '{"topic": "trams", "rhymes": true}\n\n'
        '{"topic": "buses", "count": "2", "rhymes": false, "tags": ["red"]}\n'
    )
    table = table_of(content, filename="rows.jsonl")
    assert table.headers == ["topic", "rhymes", "count", "tags"]
    validation = check_table(table)
    assert (validation.valid, validation.blank_lines) == (1, 1)
    [error] = validation.errors
    assert (error.row, error.column, error.message) == (3, "count", "Enter a whole number.")


def test_json_lines_errors_name_the_line() -> None:
    bad = refusal('{"topic": "a"}\n{"topic": \n', filename="rows.jsonl")
    assert (bad.code, bad.row) == ("bad_json", 2)
    assert "Line 2" in bad.message
    assert refusal('{"topic": "a"}\n["a"]\n', filename="rows.jsonl").row == 2
    assert refusal('{"topic": "a\\u0000"}\n', filename="rows.jsonl").code == "nul"
    assert refusal(b'{"topic": "\xff"}\n', filename="rows.jsonl").code == "encoding"


def test_a_json_lines_line_past_the_cap_is_refused_without_reading_it_whole() -> None:
    # Line 2 is 50 MB without a newline, made as it is read.
    stream = GeneratedCsv(50_000, header=b'{"topic": "a"}\n{"topic": "', line=b"x" * 1000)
    tracemalloc.start()
    try:
        with pytest.raises(IngestError) as caught:
            read_table(stream, filename="rows.jsonl")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Read up to the cap and a chunk, held once or twice: far from the line's 50 MB.
    assert stream.read_since_rewind < 2 * MAX_LINE_CHARS
    assert peak < 4 * MAX_LINE_CHARS < stream.size // 10, peak
    assert (caught.value.code, caught.value.row) == ("line_too_long", 2)
    assert "Line 2" in caught.value.message and f"{MAX_LINE_CHARS:,}" in caught.value.message


def test_a_json_lines_line_as_long_as_the_cap_is_read() -> None:
    head = '{"topic": "'
    line = head + "x" * (MAX_LINE_CHARS - len(head) - 2) + '"}'
    assert len(line) == MAX_LINE_CHARS
    table = table_of(line + "\r\n" + line, filename="rows.jsonl")
    assert [(number, len(cells["topic"])) for number, cells in rows_of(table)] == [
        (1, MAX_LINE_CHARS - len(head) - 2),
        (2, MAX_LINE_CHARS - len(head) - 2),
    ]


def test_a_nameless_paste_of_objects_is_json_lines() -> None:
    assert table_of('{"topic": "a"}\n', filename="").format_name == "jsonl"
    assert table_of("topic\na\n", filename="").format_name == "csv"


def test_the_apis_rows_are_a_table_too() -> None:
    table = table_from_rows(
        [{"topic": "a", "rhymes": True}, {"topic": "b" * 30, "rhymes": False}], max_rows=5
    )
    validation = check_table(table)
    assert (validation.valid, validation.invalid) == (1, 1)
    assert validation.errors[0].column == "topic"
    with pytest.raises(IngestError):
        table_from_rows([{"topic": "a"}, "b"])
    with pytest.raises(IngestError) as caught:
        table_from_rows([{"topic": "a"}] * 3, max_rows=2)
    assert caught.value.code == "too_many_rows"


# --- Estimate ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_estimate_is_a_cost_range_at_the_models_price_and_unknown_without_one() -> None:
    ModelPrice.objects.create(
        provider="anthropic",
        model="test-model",
        input_per_million=Decimal("3"),
        output_per_million=Decimal("15"),
    )
    version = version_of(provider="anthropic", model="test-model", max_tokens=100)
    validation = check("topic,rhymes\ntrams,no\nbuses,no\ntrams,no\n", version=version)
    characters = len("Write 3 lines about trams.") + len("Write 3 lines about buses.")
    assert (validation.valid, validation.distinct, validation.prompt_characters) == (3, 2, characters)
    configurations = [
        SimpleNamespace(label="Claude", provider="anthropic", model="test-model"),
        SimpleNamespace(label="Unpriced", provider="anthropic", model="no-price-model"),
        SimpleNamespace(label="", provider="offline", model="offline-echo"),
    ]
    figures = estimate(version, validation, configurations)
    claude, unpriced, offline = figures.configurations
    tokens = -(-characters // 4)
    assert (claude.runs, claude.prompt_tokens, claude.max_output_tokens) == (2, tokens, 200)
    assert claude.low == (Decimal(tokens * 3) / 1_000_000).quantize(Decimal("0.000001"))
    assert claude.high == (Decimal(tokens * 3 + 200 * 15) / 1_000_000).quantize(Decimal("0.000001"))
    assert (unpriced.low, unpriced.high, unpriced.priced) == (None, None, False)
    assert (offline.low, offline.high, offline.label) == (Decimal(0), Decimal(0), "offline · offline-echo")
    assert (figures.rows, figures.distinct, figures.runs) == (3, 2, 6)
    assert figures.low is None and figures.as_json()["cost_high"] is None  # unknown stays unknown, never 0
    assert "÷ 4" in figures.method
    alone = estimate(version, validation)
    assert alone.low == claude.low and alone.as_json()["configurations"][0]["cost_high"] == str(claude.high)


# --- Exports -------------------------------------------------------------------------------

INJECTIONS = ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def export_rows(outputs: list[str], *, inputs: list[str] | None = None) -> ResultRows:
    def rows() -> Iterator[ExportRow]:
        for number, output in enumerate(outputs, start=1):
            topic = inputs[number - 1] if inputs else f"topic {number}"
            result = Result(
                output=output,
                status="succeeded",
                input_tokens=10,
                output_tokens=number,
                cost=Decimal("0.000123") if number % 2 else None,
                job_url=f"https://promptlab.example/jobs/{number}/",
            )
            yield ExportRow(number, {"topic": topic, "count": str(number)}, [result])

    return ResultRows(rows)


COLUMNS = ExportColumns(inputs=["topic", "count"])
RESULT_HEADER = ["output", "status", "error", "input_tokens", "output_tokens", "cost", "job_url"]


def exported(name: str, columns: ExportColumns, rows: Any) -> bytes:
    return b"".join(EXPORTS[name].stream(columns, rows))


def test_json_lines_cells_are_exported_as_json() -> None:
    rows = ResultRows(lambda: [ExportRow(1, {"topic": {"a": [1]}, "count": 2, "flag": False}, [Result()])])
    columns = ExportColumns(inputs=["topic", "count", "flag"])
    [(_number, cells)] = rows_of(table_of(exported("csv", columns, rows), filename="r.csv"))
    assert (cells["topic"], cells["count"], cells["flag"]) == ('{"a": [1]}', "2", "false")


def test_csv_export_round_trips_through_the_reader() -> None:
    body = exported("csv", COLUMNS, export_rows(["Una, dos", "línea\nnueva"]))
    assert body.startswith(b"\xef\xbb\xbf")
    table = table_of(body, filename="results.csv")
    assert table.headers == ["topic", "count", *RESULT_HEADER]
    assert [cells for _number, cells in rows_of(table)] == [
        {"topic": "topic 1", "count": "1", "output": "Una, dos", "status": "succeeded", "error": "",
         "input_tokens": "10", "output_tokens": "1", "cost": "0.000123",
         "job_url": "https://promptlab.example/jobs/1/"},
        {"topic": "topic 2", "count": "2", "output": "línea\nnueva", "status": "succeeded", "error": "",
         "input_tokens": "10", "output_tokens": "2", "cost": "", "job_url": "https://promptlab.example/jobs/2/"},
    ]  # fmt: skip


def test_xlsx_export_round_trips_with_numbers_as_numbers() -> None:
    body = exported("xlsx", COLUMNS, export_rows(["first", "second"]))
    book = load_workbook(io.BytesIO(body), read_only=True)
    values = list(book.active.iter_rows(values_only=True))
    assert list(values[0]) == ["topic", "count", *RESULT_HEADER]
    assert list(values[1]) == [
        "topic 1", "1", "first", "succeeded", None, 10, 1, 0.000123, "https://promptlab.example/jobs/1/",
    ]  # fmt: skip
    assert values[2][7] is None  # an unknown cost stays empty, never 0
    table = table_of(body, filename="results.xlsx")
    assert rows_of(table)[1][1]["output"] == "second"


def test_jsonl_export_round_trips_and_keeps_the_data_as_it_is() -> None:
    body = exported("jsonl", COLUMNS, export_rows(["=1+1", '{"name": "Ana"}']))
    lines = [json.loads(line) for line in body.decode().splitlines()]
    assert lines[0] == {
        "row": 1, "inputs": {"topic": "topic 1", "count": "1"}, "output": "=1+1", "status": "succeeded",
        "error": "", "input_tokens": 10, "output_tokens": 1, "cost": "0.000123",
        "job_url": "https://promptlab.example/jobs/1/",
    }  # fmt: skip
    assert lines[1]["output_json"] == {"name": "Ana"} and lines[1]["cost"] is None
    assert [row["row"] for row in table_rows(body, "results.jsonl")] == [1, 2]


def table_rows(body: bytes, filename: str) -> list[dict[str, Any]]:
    return [cells for _number, cells in rows_of(table_of(body, filename=filename))]


def test_json_outputs_get_a_column_per_top_level_field() -> None:
    outputs = [
        '{"name": "Ana", "total": 12.5, "items": [1, 2], "paid": true}',
        '```json\n{"name": "Bo", "date": "2026-01-02"}\n```',
        "not JSON at all",
    ]
    body = exported("csv", COLUMNS, export_rows(outputs))
    table = table_of(body, filename="results.csv")
    assert table.headers[2:8] == [
        "output", "output.name", "output.total", "output.items", "output.paid", "output.date",
    ]  # fmt: skip
    cells = [row[1] for row in rows_of(table)]
    assert [
        (c["output.name"], c["output.total"], c["output.items"], c["output.paid"], c["output.date"])
        for c in cells
    ] == [
        ("Ana", "12.5", "[1, 2]", "true", ""),
        ("Bo", "", "", "", "2026-01-02"),
        ("", "", "", "", ""),
    ]
    sheet = load_workbook(io.BytesIO(exported("xlsx", COLUMNS, export_rows(outputs))), read_only=True).active
    assert list(sheet.iter_rows(values_only=True))[1][4] == 12.5


def test_finding_json_fields_needs_rows_that_can_be_read_twice() -> None:
    once = iter(list(export_rows(["{}"])))
    with pytest.raises(TypeError):
        exported("csv", COLUMNS, once)
    given = ExportColumns(inputs=["topic", "count"], json_fields=["name"])
    assert b"output.name" in exported("csv", given, iter(list(export_rows(['{"name": "x"}']))))


def test_formula_cells_are_neutralised_in_csv_and_xlsx_but_not_in_jsonl() -> None:
    rows = export_rows(INJECTIONS, inputs=INJECTIONS)
    csv_cells = [row[1] for row in rows_of(table_of(exported("csv", COLUMNS, rows), filename="r.csv"))]
    assert [(c["topic"], c["output"]) for c in csv_cells] == [("'" + text, "'" + text) for text in INJECTIONS]
    sheet = load_workbook(io.BytesIO(exported("xlsx", COLUMNS, rows))).active
    for row in sheet.iter_rows(min_row=2):
        for cell in (row[0], row[2]):
            assert cell.data_type == "s" and cell.value.startswith("'"), (cell.coordinate, cell.value)
    jsonl = [json.loads(line) for line in exported("jsonl", COLUMNS, rows).decode().splitlines()]
    assert [row["output"] for row in jsonl] == INJECTIONS


def test_xlsx_export_drops_characters_xml_cant_hold() -> None:
    body = exported("xlsx", COLUMNS, export_rows(["bell\x07 and nul\x00"]))
    assert table_rows(body, "r.xlsx")[0]["output"] == "bell and nul"


def test_a_compare_export_has_a_block_of_result_columns_per_configuration() -> None:
    items = [
        (1, {"topic": "trams"}, 0, Result(output="A says", status="succeeded", input_tokens=3)),
        (1, {"topic": "trams"}, 1, Result(output="B says", status="failed", error="Boom")),
        (2, {"topic": "buses"}, 1, Result(output="B again", status="succeeded")),
    ]
    columns = ExportColumns(inputs=["topic"], configurations=["Claude", "GPT"])
    rows = ResultRows(lambda: group_rows(iter(items), configurations=2))
    table = table_of(exported("csv", columns, rows), filename="compare.csv")
    assert table.headers == [
        "topic",
        *(f"Claude: {n}" for n in RESULT_HEADER),
        *(f"GPT: {n}" for n in RESULT_HEADER),
    ]
    first, second = (cells for _number, cells in rows_of(table))
    assert (first["Claude: output"], first["GPT: output"], first["GPT: error"]) == (
        "A says",
        "B says",
        "Boom",
    )
    assert (second["Claude: status"], second["GPT: output"]) == ("", "B again")
    jsonl = [json.loads(line) for line in exported("jsonl", columns, rows).decode().splitlines()]
    assert [result["configuration"] for result in jsonl[0]["results"]] == ["Claude", "GPT"]
    assert jsonl[0]["results"][1]["error"] == "Boom"
    short = ResultRows(lambda: [ExportRow(3, {"topic": "bikes"}, [Result(output="only A")])])
    [(_number, cells)] = rows_of(table_of(exported("csv", columns, short), filename="compare.csv"))
    assert (cells["Claude: output"], cells["GPT: output"], cells["GPT: job_url"]) == ("only A", "", "")


def test_a_result_column_named_like_an_input_column_is_told_apart() -> None:
    columns = ExportColumns(inputs=["topic", "Status"])
    rows = ResultRows(lambda: [ExportRow(1, {"topic": "a", "Status": "draft"}, [Result(status="succeeded")])])
    assert table_of(exported("csv", columns, rows), filename="r.csv").headers[2:5] == [
        "output", "result.status", "error",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "counts"), [("csv", (2_000, 20_000)), ("xlsx", (100, 1_000))], ids=["csv", "xlsx"]
)
def test_exports_stream_in_bounded_memory(name: str, counts: tuple[int, int]) -> None:
    def many(count: int) -> ResultRows:
        row = ExportRow(1, {"topic": "trams", "count": "3"}, [Result(output="x" * 200, status="succeeded")])
        return ResultRows(lambda: itertools.repeat(row, count))

    peaks = []
    for count in counts:
        tracemalloc.start()
        try:
            for _chunk in EXPORTS[name].stream(COLUMNS, many(count)):
                pass
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    # Ten times the rows, about the same memory: rows are written as they come.
    assert peaks[1] < peaks[0] * 1.5 + 100_000, peaks


def test_an_uploaded_file_is_read_in_place_and_left_open() -> None:
    upload = SimpleUploadedFile(
        "rows.csv", "topic;count\nCoração;2\n".encode("cp1252"), content_type="text/csv"
    )
    table = read_table(upload, filename=upload.name, content_type=upload.content_type)
    assert rows_of(table) == rows_of(table) == [(1, {"topic": "Coração", "count": "2"})]
    assert not upload.closed


# --- Word diff ------------------------------------------------------------------------------


def sides(pieces: list[tuple[str, str]]) -> tuple[str, str]:
    return (
        "".join(text for op, text in pieces if op != "insert"),
        "".join(text for op, text in pieces if op != "delete"),
    )


def test_word_diff_marks_the_words_that_changed() -> None:
    pieces = word_diff("The quick brown fox jumps.", "The quick red fox leaps!")
    assert pieces == [
        ("equal", "The quick "),
        ("delete", "brown"),
        ("insert", "red"),
        ("equal", " fox "),
        ("delete", "jumps."),
        ("insert", "leaps!"),
    ]
    assert word_diff("same", "same") == [("equal", "same")]
    assert word_diff("", "new") == [("insert", "new")]


def test_word_diff_of_long_outputs_goes_line_by_line_and_loses_nothing() -> None:
    a = "\n".join(f"line {n} says hello" for n in range(3_000))
    b = a.replace("line 1500 says hello", "line 1500 says goodbye")
    pieces = word_diff(a, b)
    assert sides(pieces) == (a, b)
    assert ("delete", "hello") in pieces and ("insert", "goodbye") in pieces
