"""Batch results as files, written as streams.

(The result formats come in the next commit; the CSV writer and the neutraliser are
shared with the ingest's error table.)
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

# OWASP's list: a spreadsheet reads a cell starting with one of these as a formula
# (tab and carriage return, because some programs strip them and read what follows).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_BYTES = 32 * 1024


def neutralise(value: Any) -> Any:
    """A text a spreadsheet would run as a formula, quoted (``'=1+1``) so it shows as
    typed; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


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
        line = writer.writerow(["" if cell is None else neutralise(cell) for cell in row])
        buffer.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")
