"""What the comparison page reads: the matrix of answers (a line per input row, a cell
per configuration), the totals per configuration, and the word diff of two answers."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum
from django.utils.translation import gettext as _

from jobs.models import Job

from .diff import word_diff
from .models import Batch, BatchConfiguration, BatchRow, RowStatus
from .templatetags.batch_figures import inputs_summary


def _seconds(job: Any) -> float | None:
    if job is None or job.finished_at is None or job.started_at is None:
        return None
    return (job.finished_at - job.started_at).total_seconds()


@dataclass(frozen=True)
class Cell:
    configuration: BatchConfiguration
    row: BatchRow | None

    @property
    def seconds(self) -> float | None:
        return _seconds(self.row.job) if self.row is not None else None


@dataclass(frozen=True)
class Line:
    number: int
    inputs: str
    cells: list[Cell]


def matrix_lines(batch: Batch, configurations: list[BatchConfiguration], numbers: list[int]) -> list[Line]:
    rows = (
        batch.rows.filter(number__in=numbers)
        .select_related("job")
        .defer("job__prompt", "job__system_prompt", "job__inputs")
    )
    by_number: dict[int, dict[int, BatchRow]] = defaultdict(dict)
    for row in rows:
        by_number[row.number][row.configuration_id] = row
    lines = []
    for number in numbers:
        cells = [
            Cell(configuration, by_number[number].get(configuration.pk)) for configuration in configurations
        ]
        first = next((cell.row for cell in cells if cell.row is not None), None)
        inputs = inputs_summary(first, list(batch.columns)) if first is not None else ""
        lines.append(Line(number, inputs, cells))
    return lines


@dataclass(frozen=True)
class Totals:
    configuration: BatchConfiguration
    succeeded: int
    failed: int
    input_tokens: int
    output_tokens: int
    cost: Decimal | None  # None: some answer's price is not known
    median_seconds: float | None


def comparison_totals(batch: Batch, configurations: list[BatchConfiguration]) -> list[Totals]:
    """Per configuration: its rows by status, and its jobs' tokens, cost and median time,
    each job counted once however many identical rows share it."""
    statuses: dict[tuple[int, str], int] = {
        (entry["configuration_id"], entry["status"]): entry["n"]
        for entry in batch.rows.order_by().values("configuration_id", "status").annotate(n=Count("pk"))
    }
    totals = []
    for configuration in configurations:
        jobs = Job.objects.filter(
            pk__in=BatchRow.objects.filter(configuration=configuration, job__isnull=False).values("job_id")
        )
        sums = jobs.aggregate(
            input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"), cost=Sum("cost")
        )
        unpriced = jobs.filter(cost__isnull=True, status="succeeded").exists()
        median = _median_seconds(jobs.filter(started_at__isnull=False, finished_at__isnull=False))
        totals.append(
            Totals(
                configuration=configuration,
                succeeded=statuses.get((configuration.pk, RowStatus.SUCCEEDED), 0),
                failed=statuses.get((configuration.pk, RowStatus.FAILED), 0),
                input_tokens=sums["input_tokens"] or 0,
                output_tokens=sums["output_tokens"] or 0,
                cost=None if unpriced else (sums["cost"] or Decimal("0")),
                median_seconds=median,
            )
        )
    return totals


def _median_seconds(jobs: Any) -> float | None:
    """The median run time of ``jobs``, read by the database (the one or two middle rows
    in order), not by loading every job's times: a batch may have tens of thousands."""
    durations = jobs.annotate(
        duration=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    ).order_by("duration")
    count = durations.count()
    if not count:
        return None
    middle = list(durations.values_list("duration", flat=True)[(count - 1) // 2 : count // 2 + 1])
    return statistics.median(duration.total_seconds() for duration in middle)


def word_diff_between(
    batch: Batch, configurations: list[BatchConfiguration], chosen: dict[str, Any]
) -> tuple[list[tuple[str, str]], str, str] | None:
    """The word diff of the two answers ``chosen`` names (DiffForm's cleaned data), with
    a name for each; None when either has no answer."""
    by_position = {str(configuration.position): configuration for configuration in configurations}
    answers = []
    for row_field, configuration_field in (("first_row", "first"), ("second_row", "second")):
        configuration = by_position[chosen[configuration_field]]
        row = (
            batch.rows.filter(number=chosen[row_field], configuration=configuration)
            .select_related("job")
            .only("number", "job__output", "job__status")
            .first()
        )
        if row is None or row.job is None or not row.job.is_terminal:
            return None
        name = _("row %(number)d, %(label)s") % {"number": chosen[row_field], "label": configuration.label}
        answers.append((row.job.output, name))
    (first, first_name), (second, second_name) = answers
    return word_diff(first, second), first_name, second_name
