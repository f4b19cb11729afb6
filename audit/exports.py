"""A log as CSV, streamed: every cell a spreadsheet would run as a formula is quoted."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from promptlab.spreadsheet import neutralise

from .models import AuditEntry

ROWS_PER_CHUNK = 200


class _Echo:
    """csv.writer writes each row to this and gets it back (no buffer kept)."""

    def write(self, text: str) -> str:
        return text


def _cell(value: Any) -> Any:
    return "" if value is None else neutralise(value)


def csv_lines(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """A header, then one line per entry; a BOM first, so spreadsheet programs read accents right."""
    writer = csv.writer(_Echo())
    header = [
        _("When"),
        _("Who"),
        _("From"),
        _("What"),
        _("Target type"),
        _("Target"),
        _("Details"),
        _("Workspace"),
    ]
    yield codecs.BOM_UTF8.decode("utf-8") + writer.writerow([_cell(text) for text in header])
    for entry in entries:
        yield writer.writerow(
            [
                _cell(timezone.localtime(entry.created_at).isoformat()),
                _cell(entry.actor_email),
                _cell(entry.ip_address),
                _cell(entry.get_action_display()),
                _cell(entry.target_type),
                _cell(entry.target_text),
                _cell(json.dumps(entry.details, ensure_ascii=False, sort_keys=True) if entry.details else ""),
                _cell(entry.workspace_name),
            ]
        )


def csv_stream(entries: Iterable[AuditEntry]) -> Iterator[bytes]:
    """The lines in UTF-8, a chunk per ``ROWS_PER_CHUNK`` entries, in the language of the
    request: the server reads the stream after the view has returned."""
    return _chunks(entries, translation.get_language())


def _chunks(entries: Iterable[AuditEntry], language: str) -> Iterator[bytes]:
    chunk: list[str] = []
    with translation.override(language):
        for line in csv_lines(entries):
            chunk.append(line)
            if len(chunk) >= ROWS_PER_CHUNK:
                yield "".join(chunk).encode("utf-8")
                chunk = []
    if chunk:
        yield "".join(chunk).encode("utf-8")
