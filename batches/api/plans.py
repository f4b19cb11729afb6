"""The API's one request from rows (JSON or a file) to a batch: checked first, and
either the errors (nothing is created) or the rows to write, read again lazily. The
same reading, mapping and validation as the pages' drafts (``batches.drafts``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.files.base import File
from django.utils.translation import gettext as _

from templates_app.models import Template

from .. import ingest, services
from ..drafts import LABEL_LANGUAGES, UploadRefused, check_file


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
