"""The road from an upload to a running batch, for the pages and the API.

A page upload becomes a *draft* (``services.create_draft``: the file kept, nothing
run): the file is read (``ingest``), its columns mapped, every row validated, and the
draft keeps the summary. A workbook with several sheets, or columns that don't name the
form's fields, first send the person to a step of its own; each step checks the file
again. Starting reads the file once more, lazily, and writes its valid rows
(``services.start_draft``). The API does the same in one request, with no draft
(``batches.api.plans``, on ``check_file``).

Nothing here holds the file's rows: each pass reads the stored (or uploaded) file
from its start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.files.base import ContentFile, File
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from templates_app.models import Template, TemplateVersion
from templates_app.schema import localize

from . import ingest, services
from .models import Batch

PASTED_NAME = "pasted.csv"


class UploadRefused(Exception):
    """A file (or its sheet or mapping) that can't be taken: the message says why."""

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class ParameterColumn:
    name: str
    label: str
    required: bool


def parameter_columns(version: TemplateVersion, language: str) -> list[ParameterColumn]:
    """The columns a file may have: the parameters a person fills."""
    return [
        ParameterColumn(p.name, localize(p.label, language), not (p.optional or p.default is not None))
        for p in version.schema.visible
    ]


# Labels in every language the template has count (None: all), so that a Portuguese file
# uploaded by someone browsing in English still matches: the "either language".
LABEL_LANGUAGES = None


def _open(
    stream: IO[bytes], name: str, owner: Any, *, content_type: str = "", sheet: str | None = None
) -> ingest.Table:
    limits = services.limits_for(owner)
    try:
        return ingest.read_table(
            stream,
            filename=name,
            content_type=content_type,
            sheet=sheet or None,
            max_rows=limits.max_rows,
            max_bytes=limits.max_file_bytes,
        )
    except ingest.IngestError as exc:
        raise UploadRefused(exc.message, "sheet" if exc.code == "choose_sheet" else "file") from None


@dataclass
class Check:
    """What reading a file found: the sheet to choose, the columns to map, or the
    validation of every row."""

    sheets: list[str] = field(default_factory=list)
    needs_sheet: bool = False
    table: ingest.Table | None = None
    mapping: ingest.Mapping | None = None
    validation: ingest.Validation | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.table.headers) if self.table is not None else []

    def summary(self) -> dict[str, Any]:
        """What the draft keeps of it (``Batch``'s summary fields)."""
        validation = self.validation
        if validation is None:
            validation = ingest.Validation()
        return {
            "valid_rows": validation.valid,
            "invalid_rows": validation.invalid,
            "blank_lines": validation.blank_lines,
            "errors": [error.as_json() for error in validation.errors],
            "warnings": validation.warnings,
            "distinct_rows": validation.distinct,
            "prompt_characters": validation.prompt_characters,
        }


def check_file(
    version: TemplateVersion,
    owner: Any,
    stream: IO[bytes],
    name: str,
    *,
    language: str,
    content_type: str = "",
    sheet: str | None = None,
    mapping: dict[str, str] | None = None,
    validate_incomplete: bool = False,
) -> Check:
    """Read ``stream``: which sheet (when a workbook has several and none is named), which
    columns feed which parameters, and, once that is settled, every row validated."""
    try:
        table = _open(stream, name, owner, content_type=content_type, sheet=sheet)
    except UploadRefused as refused:
        if refused.field != "sheet":
            raise
        stream.seek(0)
        return Check(sheets=_sheet_names(stream, name, content_type), needs_sheet=True)
    found = ingest.map_columns(table.headers, version.schema, LABEL_LANGUAGES, mapping)
    result = Check(sheets=list(table.sheets), table=table, mapping=found)
    if found.is_complete and (validate_incomplete or not found.needs_mapping or mapping is not None):
        try:
            result.validation = ingest.validate_rows(version, table, found, language)
        except ingest.IngestError as exc:
            raise UploadRefused(exc.message) from None
    return result


def _sheet_names(stream: IO[bytes], name: str, content_type: str) -> list[str]:
    try:
        ingest.read_table(stream, filename=name, content_type=content_type)
    except ingest.IngestError as exc:
        return list(exc.choices)
    return []


def _mapping_decided(batch: Batch) -> dict[str, str] | None:
    """The mapping a person chose on the mapping step (None: never shown)."""
    return batch.mapping if batch.mapping else None


# --- Pages: drafts ---------------------------------------------------------------


def draft_from_upload(
    template: Template,
    owner: Any,
    *,
    upload: File | None,
    pasted: str,
    configurations: list[services.ConfigurationSpec],
    concurrency: int | None,
    rows_per_minute: int | None,
    language: str,
) -> Batch:
    """A draft of the uploaded file (or the pasted rows), checked as far as it can be
    without asking: its next step is ``next_step_url``."""
    if upload is not None:
        stream, name, content_type, source_name = upload, upload.name, upload.content_type or "", upload.name
    else:
        stream = ContentFile(pasted.encode("utf-8"), name=PASTED_NAME)
        name, content_type, source_name = PASTED_NAME, "text/csv", _("pasted rows")
    version = template.published_version
    check = check_file(version, owner, stream, name, language=language, content_type=content_type)
    stream.seek(0)
    return services.create_draft(
        template,
        owner,
        configurations=configurations,
        source_name=source_name,
        upload=File(stream, name=name),
        columns=check.columns if check.validation is not None else [],
        mapping=check.mapping.as_json() if check.validation is not None and check.mapping else {},
        sheet=check.table.sheet if check.table is not None else "",
        concurrency=concurrency,
        rows_per_minute=rows_per_minute,
        **check.summary(),
    )


@contextlib.contextmanager
def _stored(batch: Batch) -> Iterator[IO[bytes]]:
    if not batch.source.name:
        raise UploadRefused(_("This draft's file is gone: upload it again."))
    with batch.source.open("rb") as stream:
        yield stream


def _stored_name(batch: Batch) -> str:
    return batch.source.name.rsplit("/", 1)[-1]


def is_checked(batch: Batch) -> bool:
    """Every row was validated (``columns`` is written only then)."""
    return bool(batch.columns)


def next_step_url(batch: Batch) -> str:
    """Where a draft goes next: its sheet, its columns, or its review."""
    if is_checked(batch):
        return reverse("batches:review", args=[batch.pk])
    with _stored(batch) as stream:
        check = check_file(
            batch.template.published_version,
            batch.owner,
            stream,
            _stored_name(batch),
            language=translation.get_language(),
            sheet=batch.sheet or None,
            mapping=_mapping_decided(batch),
        )
    if check.needs_sheet:
        return reverse("batches:sheet", args=[batch.pk])
    return reverse("batches:mapping", args=[batch.pk])


def sheets_of(batch: Batch) -> list[str]:
    with _stored(batch) as stream:
        return _sheet_names(stream, _stored_name(batch), "") or ([batch.sheet] if batch.sheet else [])


@dataclass(frozen=True)
class MappingStep:
    headers: list[str]
    choices: list[tuple[str, str]]  # (parameter name, what a person reads)
    mapping: dict[str, str]
    missing_labels: list[str]


def mapping_step(batch: Batch, language: str) -> MappingStep:
    version = batch.template.published_version
    with _stored(batch) as stream:
        table = _open(stream, _stored_name(batch), batch.owner, sheet=batch.sheet or None)
        found = ingest.map_columns(table.headers, version.schema, LABEL_LANGUAGES, _mapping_decided(batch))
    columns = parameter_columns(version, language)
    labels = {column.name: column.label for column in columns}
    return MappingStep(
        headers=list(table.headers),
        choices=[(c.name, c.label if c.label == c.name else f"{c.label} ({c.name})") for c in columns],
        mapping=found.as_json(),
        missing_labels=[labels.get(name, name) for name in found.missing_required],
    )


def recheck(
    batch: Batch, *, language: str, sheet: str | None = None, mapping: dict[str, str] | None = None
) -> None:
    """Check the draft's file again with the sheet or mapping a person chose, and keep
    what the check found (the draft then goes to ``next_step_url``)."""
    chosen_sheet = sheet if sheet is not None else batch.sheet
    if mapping is not None:
        # Every header decided: those left out are kept as "not used" ("").
        with _stored(batch) as stream:
            headers = _open(stream, _stored_name(batch), batch.owner, sheet=chosen_sheet or None).headers
        mapping = {header: mapping.get(header, "") for header in headers}
    elif sheet is not None:
        mapping = None  # another sheet: its own columns
    else:
        mapping = _mapping_decided(batch)
    with _stored(batch) as stream:
        check = check_file(
            batch.template.published_version,
            batch.owner,
            stream,
            _stored_name(batch),
            language=language,
            sheet=chosen_sheet or None,
            mapping=mapping,
        )
    if check.needs_sheet:
        raise UploadRefused(_("Choose one of the sheets."), "sheet")
    if mapping is not None and check.mapping is not None and check.mapping.errors:
        raise UploadRefused(" ".join(check.mapping.errors), "mapping")
    checked = check.validation is not None
    fields = {
        "sheet": check.table.sheet if check.table is not None else "",
        "mapping": mapping or (check.mapping.as_json() if checked and check.mapping else {}),
        "columns": check.columns if checked else [],
        **check.summary(),
    }
    # Only a draft changes (a started batch keeps what it started with).
    batch.record_check(**fields)


def _mapping_for(batch: Batch, table: ingest.Table) -> ingest.Mapping:
    return ingest.map_columns(
        table.headers, batch.template.published_version.schema, None, batch.mapping or None
    )


def start(batch: Batch, language: str) -> Batch:
    """Write the draft's valid rows (its file read once more) and start it."""
    version = batch.template.published_version
    with _stored(batch) as stream:
        table = _open(stream, _stored_name(batch), batch.owner, sheet=batch.sheet or None)
        rows = ingest.iter_valid_rows(version, table, _mapping_for(batch, table), language)
        try:
            return services.start_draft(batch, rows)
        except ingest.IngestError as exc:
            raise UploadRefused(exc.message) from None


def errors_csv(batch: Batch) -> Iterator[bytes]:
    """Every error of the draft's rows (not only the first kept), as CSV, read from its file."""
    language = translation.get_language()
    version = batch.template.published_version
    with _stored(batch) as stream:
        table = _open(stream, _stored_name(batch), batch.owner, sheet=batch.sheet or None)
        yield from ingest.errors_csv(
            ingest.iter_errors(version, table, _mapping_for(batch, table), language), language=language
        )


# --- Estimates ---------------------------------------------------------------------


def estimate_for(batch: Batch) -> ingest.Estimate | None:
    """The checked draft's estimate: rows, distinct inputs, a cost range per configuration
    (from the figures its check kept)."""
    if not is_checked(batch) or not batch.valid_rows:
        return None
    configurations = list(batch.configurations.select_related("template_version").order_by("position"))
    validation = ingest.Validation(
        valid=batch.valid_rows, distinct=batch.distinct_rows, prompt_characters=batch.prompt_characters
    )
    return ingest.estimate(batch.template.published_version, validation, configurations)


def form_source(form: Any) -> dict[str, Any]:
    """A form run's inputs as a row's source cells (what exports show as its input columns)."""
    return {name: form.cleaned_data.get(name) for name in form.fields if name in form.cleaned_data}
