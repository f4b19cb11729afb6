"""The road from an upload to a running batch, for the pages and the API.

A page upload becomes a *draft* (``services.create_draft``: the file kept, nothing
run): the file is read (``ingest``), its columns mapped, every row validated, and the
draft keeps the summary. A workbook with several sheets, or columns that don't name the
form's fields, first send the person to a step of its own; each step checks the file
again. Starting reads the file once more, lazily, and writes its valid rows
(``services.start_draft``). The API does the same in one request, with no draft.

Nothing here holds the file's rows: each pass reads the stored (or uploaded) file
from its start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from django.core.files.base import ContentFile, File
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from templates_app.models import Template, TemplateVersion
from templates_app.schema import localize

from . import exports, ingest, services
from .models import Batch

PASTED_NAME = "pasted.csv"
EXPORTS = exports.EXPORTS


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


# --- The API ---------------------------------------------------------------------


@dataclass
class Plan:
    """What a request asks to run, checked: the errors (nothing is created then), or
    the rows to write (``rows()``, read again lazily)."""

    source_name: str
    columns: list[str]
    errors: list[dict[str, Any]] = field(default_factory=list)
    invalid_rows: int = 0
    refused: UploadRefused | None = None
    _rows: Any = None

    def rows(self) -> Iterator[tuple[int, dict[str, Any], dict[str, Any]]]:
        return self._rows()


def plan_from_file(
    template: Template,
    owner: Any,
    upload: File,
    *,
    sheet: str | None,
    mapping: dict[str, str] | None,
    language: str,
) -> Plan:
    version = template.published_version
    name = upload.name or "upload.csv"
    try:
        check = check_file(
            version,
            owner,
            upload,
            name,
            language=language,
            content_type=getattr(upload, "content_type", "") or "",
            sheet=sheet,
            mapping=mapping,
            validate_incomplete=True,
        )
    except UploadRefused as refused:
        return Plan(name, [], refused=refused)
    if check.needs_sheet:
        message = _("This workbook has several sheets: name one in “sheet” (%(names)s).") % {
            "names": ", ".join(check.sheets)
        }
        return Plan(name, [], refused=UploadRefused(message, "sheet"))
    assert check.table is not None and check.mapping is not None
    if not check.mapping.is_complete:
        problems = list(check.mapping.errors)
        if check.mapping.missing_required:
            problems.append(
                _("No column fills these required parameters: %(names)s. Name them in “mapping”.")
                % {"names": ", ".join(check.mapping.missing_required)}
            )
        return Plan(name, check.columns, refused=UploadRefused(" ".join(problems), "mapping"))
    validation = check.validation
    assert validation is not None
    table, found = check.table, check.mapping
    plan = Plan(
        name,
        check.columns,
        errors=[error.as_json() for error in validation.errors],
        invalid_rows=validation.invalid,
    )
    if validation.valid == 0 and not plan.errors:
        plan.refused = UploadRefused(_("The file has no rows below the column names."), "file")
    plan._rows = lambda: ingest.iter_valid_rows(version, table, found, language)
    return plan


def plan_from_json(template: Template, owner: Any, rows: list[dict[str, Any]], *, language: str) -> Plan:
    """Rows as JSON objects: the same road as a file's (``ingest.table_from_rows``), their
    keys as its columns."""
    version = template.published_version
    try:
        table = ingest.table_from_rows(rows, max_rows=services.limits_for(owner).max_rows)
        found = ingest.map_columns(table.headers, version.schema, LABEL_LANGUAGES)
        validation = ingest.validate_rows(version, table, found, language)
    except ingest.IngestError as exc:
        return Plan("api", [], refused=UploadRefused(exc.message, "rows"))
    plan = Plan(
        "api",
        list(table.headers),
        errors=[error.as_json() for error in validation.errors],
        invalid_rows=validation.invalid,
    )
    plan._rows = lambda: ingest.iter_valid_rows(version, table, found, language)
    return plan


def configuration_specs(
    template: Template, requested: list[dict[str, Any]]
) -> list[services.ConfigurationSpec]:
    """The API's configurations as the engine takes them (a version by its number)."""
    specs = []
    for entry in requested:
        version = None
        if (number := entry.get("version")) is not None:
            version = template.versions.filter(number=number).first()
            if version is None:
                raise services.BatchError(
                    _("This template has no version %(number)d.") % {"number": number}, "configurations"
                )
        temperature = entry.get("temperature")
        specs.append(
            services.ConfigurationSpec(
                version=version,
                provider=entry.get("provider"),
                model=entry.get("model"),
                temperature=Decimal(temperature) if temperature is not None else None,
                label=entry.get("label", ""),
            )
        )
    return specs


def form_source(form: Any) -> dict[str, Any]:
    """A form run's inputs as a row's source cells (what exports show as its input columns)."""
    return {name: form.cleaned_data.get(name) for name in form.fields if name in form.cleaned_data}


# --- Results ---------------------------------------------------------------------


def results_response(batch: Batch, export: exports.ResultExport, job_url: Any) -> StreamingHttpResponse:
    """The batch's results as ``export`` writes them, streamed from the rows a chunk at a
    time (``job_url`` makes a job's path absolute)."""
    configurations = list(batch.configurations.order_by("position"))
    position = {configuration.pk: configuration.position for configuration in configurations}
    columns = exports.ExportColumns(
        inputs=list(batch.columns), configurations=[configuration.label for configuration in configurations]
    )

    def items() -> Iterator[tuple[int, dict[str, Any], int, exports.Result]]:
        rows = (
            batch.rows.select_related("job")
            .defer("inputs", "job__prompt", "job__system_prompt", "job__inputs")
            .order_by("number", "configuration__position")
        )
        for row in rows.iterator(chunk_size=500):
            job = row.job
            yield (
                row.number,
                row.source,
                position[row.configuration_id],
                exports.Result(
                    output=job.output if job is not None and job.is_terminal else "",
                    status=row.status,
                    error=row.error_text,
                    input_tokens=job.input_tokens if job is not None else None,
                    output_tokens=job.output_tokens if job is not None else None,
                    cost=job.cost if job is not None else None,
                    job_url=job_url(reverse("jobs:detail", args=[job.pk])) if job is not None else "",
                ),
            )

    rows = exports.ResultRows(lambda: exports.group_rows(items(), configurations=len(configurations)))
    response = StreamingHttpResponse(export.stream(columns, rows), content_type=export.content_type)
    stem = f"{batch.template.slug}-batch-{str(batch.pk)[:8]}"
    response["Content-Disposition"] = f'attachment; filename="{export.filename(stem)}"'
    return response
