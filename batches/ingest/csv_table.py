"""CSV files (and TSV, and pasted rows): the csv module over a text wrapper, a chunk at
a time, never the whole file in memory.

The encoding is decided by one pass over the bytes before any row is read, so a file is
refused (naming the line) or read as Latin-1 up front rather than failing half-way: a
BOM decides (UTF-8 or UTF-16); otherwise valid UTF-8 is UTF-8, and a file whose first
byte that is not UTF-8 comes before any other non-ASCII byte is Latin-1 (Windows-1252),
read with a warning. A file that starts as UTF-8 and later is not mixes encodings: no
reading of it can be right, so it is refused.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from typing import IO, Any, ClassVar

from django.utils.translation import gettext as _

from .cells import COMMA_DECIMAL_CONVENTION_CELLS, TEXT_CELLS, CellReading
from .errors import IngestError
from .tables import GridTable

CHUNK_BYTES = 64 * 1024
SAMPLE_CHARS = 64 * 1024
SNIFF_RECORDS = 50
# In order of preference when two explain the sample equally well.
DELIMITERS = (",", ";", "\t", "|")
# A file of one column: its cells may hold any of DELIMITERS, so none of them splits it.
ONE_COLUMN = "\x1f"
SEPARATOR_LINE = re.compile(r'"?sep=([,;\t|])"?\r?\n', re.IGNORECASE)
LATIN_1 = "cp1252"
LATIN_1_ERRORS = "promptlab-latin-1"


def _latin_1_for_undefined(error: UnicodeError) -> tuple[str, int]:
    # Windows-1252 leaves five bytes undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) that
    # Latin-1 maps: with this handler a file read as Windows-1252 never fails on one.
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(LATIN_1_ERRORS, _latin_1_for_undefined)


def sniff_delimiter(sample: str, *, whole: bool) -> str:
    """The delimiter that splits the sample's first rows into the same number of cells
    (two or more) most consistently. When none splits the header row, the file has one
    column, and texts such as "trams, buses" in it are one cell each."""
    best, best_score = ONE_COLUMN, (0.0, 0)
    for delimiter in DELIMITERS:
        try:
            records = list(
                itertools.islice(csv.reader(io.StringIO(sample), delimiter=delimiter), SNIFF_RECORDS)
            )
        except csv.Error:
            continue
        if not whole and len(records) > 1:
            records.pop()  # cut by the end of the sample
        records = [record for record in records if any(cell.strip() for cell in record)]
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        score = (sum(len(record) == width for record in records) / len(records), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


class CsvTable(GridTable):
    format_name = "csv"
    cells: CellReading = TEXT_CELLS  # per file: one separated by ";" has decimal commas and day-first dates
    field_limit: ClassVar[int] = csv.field_size_limit()

    def __init__(self, stream: IO[bytes], *, delimiter: str | None = None, **kwargs: Any) -> None:
        super().__init__(stream, **kwargs)
        self.delimiter = delimiter
        self.encoding = "utf-8-sig"
        self.errors = "strict"
        self.declared_delimiter = False

    def open(self) -> CsvTable:
        self._decide_encoding()
        sample = self._sample()
        # Excel writes, and reads, a first line "sep=;" that names the delimiter.
        declared = SEPARATOR_LINE.match(sample)
        self.declared_delimiter = declared is not None
        if declared is not None:
            self.delimiter = declared.group(1)
        elif self.delimiter is None:
            self.delimiter = sniff_delimiter(sample, whole=len(sample) < SAMPLE_CHARS)
        self.cells = COMMA_DECIMAL_CONVENTION_CELLS if self.delimiter == ";" else TEXT_CELLS
        super().open()
        return self

    def _decide_encoding(self) -> None:
        stream = self._stream()
        stream.seek(0)
        head = stream.read(4)
        stream.seek(0)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            self.encoding = "utf-16"
        decoder = codecs.getincrementaldecoder(self.encoding)()
        line, seen_non_ascii, latin_1 = 1, False, False
        # None last: the decoder's final call, which refuses a character cut by the end.
        for chunk in itertools.chain(iter(lambda: stream.read(CHUNK_BYTES), b""), [None]):
            if chunk is not None and self.encoding != "utf-16" and b"\x00" in chunk:
                raise IngestError(
                    _(
                        "This is not a text file (it contains NUL bytes). "
                        "Upload a CSV, XLSX or JSON Lines file."
                    ),
                    code="encoding",
                )
            if latin_1:
                continue  # every byte is a Latin-1 character: only the NUL check is left
            try:
                text = decoder.decode(chunk or b"", final=chunk is None)
            except UnicodeDecodeError as exc:
                before = exc.object[: exc.start]
                line += before.count(b"\n") if self.encoding != "utf-16" else 0
                if self.encoding == "utf-8-sig" and not head.startswith(codecs.BOM_UTF8):
                    if not seen_non_ascii and before.isascii():
                        latin_1 = True
                        continue
                    raise IngestError(
                        _(
                            "Line %(line)s is not UTF-8 text, but the lines before it are: the file "
                            "mixes encodings. Save it as “CSV UTF-8” and upload it again."
                        )
                        % {"line": line},
                        code="encoding",
                        row=line,
                    ) from None
                raise IngestError(
                    _(
                        "Line %(line)s is not valid %(encoding)s text. "
                        "Save the file as “CSV UTF-8” and upload it again."
                    )
                    % {"line": line, "encoding": "UTF-16" if self.encoding == "utf-16" else "UTF-8"},
                    code="encoding",
                    row=line,
                ) from None
            line += text.count("\n")
            seen_non_ascii = seen_non_ascii or not text.isascii()
        if latin_1:
            self.encoding, self.errors = LATIN_1, LATIN_1_ERRORS
            self.warn(
                _(
                    "The file is not UTF-8: it was read as Latin-1 (Windows-1252). Check that accented "
                    "letters look right; saving it as “CSV UTF-8” avoids the doubt."
                )
            )

    def _sample(self) -> str:
        stream = self._stream()
        stream.seek(0)
        text = io.TextIOWrapper(stream, encoding=self.encoding, errors=self.errors, newline="")
        try:
            return text.read(SAMPLE_CHARS)
        finally:
            text.detach()  # the stream is the caller's: a wrapper must not close it

    def _stream(self) -> IO[bytes]:
        assert self.stream is not None
        return self.stream

    def _records(self) -> Iterator[list[Any]]:
        stream = self._stream()
        stream.seek(0)
        text = io.TextIOWrapper(stream, encoding=self.encoding, errors=self.errors, newline="")
        reader = csv.reader(text, delimiter=self.delimiter or ",")
        try:
            if self.declared_delimiter:
                next(reader, None)  # the "sep=" line is not a row
            yield from reader
        except csv.Error:
            # line_num has counted the lines of the record it failed on.
            raise IngestError(
                _(
                    "Line %(line)s can't be read as CSV: a cell is longer than %(limit)s "
                    "characters, or malformed."
                )
                % {"line": max(reader.line_num, 1), "limit": f"{self.field_limit:,}"},
                code="bad_csv",
                row=max(reader.line_num, 1),
            ) from None
        except UnicodeDecodeError:  # the file changed since its encoding was decided
            raise IngestError(
                _(
                    "Line %(line)s is not valid %(encoding)s text. "
                    "Save the file as “CSV UTF-8” and upload it again."
                )
                % {"line": max(reader.line_num, 1), "encoding": self.encoding},
                code="encoding",
                row=max(reader.line_num, 1),
            ) from None
        finally:
            text.detach()
