"""A batch's results as a file download, streamed (the formats: ``batches.exports``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.urls import reverse

from . import exports
from .models import Batch

EXPORTS = exports.EXPORTS


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
