"""The rollup tables: hour rows and day rows, kept as jobs finish, and their sums."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import TruncDay
from django.utils.translation import gettext_lazy as _

from .figures import (
    COUNT_FIELDS,
    DAY_KEY_FIELDS,
    DURATION_BUCKETS,
    JOB_VALUES,
    KEY_FIELDS,
    TTFT_BUCKETS,
    Summary,
    add_up,
    by_day,
    covering,
)


class RollupQuerySet(models.QuerySet[Any]):
    """What both kinds of rows answer: their sums, grouped or not."""

    def add_to_row(self, key: tuple[Any, ...], figures: dict[str, Any]) -> None:
        lookup = dict(zip(self.model.key_fields, key, strict=True))
        increments = {name: F(name) + value for name, value in figures.items() if value}
        if not increments:
            return
        # A visitors' row has no owner: matched with IS NULL (``owner_id=None`` would match nothing).
        rows = self.model.objects.filter(
            **{(f"{name}__isnull" if value is None else name): (True if value is None else value)
               for name, value in lookup.items()}
        )  # fmt: skip
        if rows.update(**increments):
            return
        try:
            # A savepoint: a twin's insert of the same row may win, and then we add to it.
            with transaction.atomic():
                self.model.objects.create(**lookup, **figures)
        except IntegrityError:
            rows.update(**increments)

    def totals(self) -> dict[str, Any]:
        """The summed figures of these rows (zeros when there are none)."""
        summed = self.aggregate(**{name: Sum(name) for name in COUNT_FIELDS})
        return {name: value or 0 for name, value in summed.items()}

    def summary(self) -> Summary:
        return Summary.of([self.totals()])

    def grouped(self, *group: Any, **expressions: Any) -> models.QuerySet[Any]:
        """Summed figures per group (``values(*group, **expressions)``), ordered by the group."""
        columns = [*group, *expressions]
        return (
            self.values(*group, **expressions)
            .annotate(**{f"sum_{name}": Sum(name) for name in COUNT_FIELDS})
            .order_by(*columns)
        )


class UsageRollupQuerySet(RollupQuerySet):
    def count_jobs(
        self, job_ids: Iterable[Any], *, sign: int = 1, recount: bool = False
    ) -> list[dict[str, Any]]:
        """Add (or with ``sign=-1`` take out) these terminal jobs' contributions, to their
        hours' rows and to their days' rows; the jobs' values as counted (``JOB_VALUES``).

        Call inside the transaction that made them terminal (or changed them), so the
        rows commit or roll back with the jobs. Increments are ``F()`` updates: two
        transactions counting into one row at once both land. Jobs that just finished
        are also counted for Prometheus once the transaction commits; ``recount`` says
        they finished earlier (their contribution taken out and put back changed).
        """
        from .. import telemetry
        from ..models import TERMINAL_STATUSES, Job

        ids = list(job_ids)
        if not ids:
            return []
        # A workflow's steps (parts) are not runs: their parent carries their sums.
        terminal = Job.objects.filter(pk__in=ids, status__in=TERMINAL_STATUSES, part_of__isnull=True)
        jobs = list(terminal.values(*JOB_VALUES))
        hours = add_up(jobs, sign)
        for key, figures in hours.items():
            self.add_to_row(key, figures)
        for key, figures in by_day(hours).items():
            UsageDayRollup.objects.add_to_row(key, figures)
        if sign > 0 and not recount:
            transaction.on_commit(functools.partial(telemetry.jobs_finished, jobs))
        return jobs

    def in_hours(self, start: datetime, end: datetime) -> UsageRollupQuerySet:
        return self.filter(hour__gte=start, hour__lt=end)

    def grouped_by_day(self) -> models.QuerySet[Any]:
        """Summed figures per day (``step``, the start of the day in the current time zone)."""
        return self.grouped(step=TruncDay("hour"))


class UsageDayRollupQuerySet(RollupQuerySet):
    def in_days(self, first: date, after: date) -> UsageDayRollupQuerySet:
        return self.filter(day__gte=first, day__lt=after)

    def grouped_by_day(self) -> models.QuerySet[Any]:
        """Summed figures per day (``step``, the date)."""
        return self.grouped(step=F("day"))


def rows_covering(
    hours: UsageRollupQuerySet, days: UsageDayRollupQuerySet, start: datetime, end: datetime
) -> list[RollupQuerySet]:
    """The rows of ``hours`` and ``days`` (the same person's, template's… rows) that add up
    to ``[start, end)``: day rows for whole days, hour rows for the edges (``covering``)."""
    coverage = covering(start, end)
    parts: list[RollupQuerySet] = [hours.in_hours(first, last) for first, last in coverage.hours]
    if coverage.days is not None:
        parts.append(days.in_days(*coverage.days))
    return parts


def rebuild(job_model: Any, rollup_model: Any, day_model: Any = None, *, batch_size: int = 5000) -> int:
    """Recount every row from the jobs (a backfill, or a repair); the number of rows written.

    Takes the models so the data migrations can pass their historical ones (the first had
    no day rows yet).
    """
    rows: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    jobs = job_model.objects.filter(status__in=["succeeded", "failed", "cancelled"]).order_by()
    # Not a workflow's steps (their parent carries their sums); the historical models of
    # the migrations before workflows have no such column, nor any such job.
    if any(field.name == "part_of" for field in job_model._meta.get_fields()):
        jobs = jobs.filter(part_of__isnull=True)
    for key, figures in add_up(jobs.values(*JOB_VALUES).iterator(chunk_size=batch_size)).items():
        row = rows[key]
        for name, value in figures.items():
            row[name] = row.get(name, 0) + value
    written = 0
    with transaction.atomic():
        tables = [(rollup_model, KEY_FIELDS, rows)]
        if day_model is not None:
            tables.append((day_model, DAY_KEY_FIELDS, by_day(rows)))
        for model, fields, keyed in tables:
            model.objects.all().delete()
            model.objects.bulk_create(
                (model(**dict(zip(fields, key, strict=True)), **figures) for key, figures in keyed.items()),
                batch_size=batch_size,
            )
            written += len(keyed)
    return written


class RollupFigures(models.Model):
    """What the terminal jobs of one hour or day add up to, per template, model and owner."""

    template = models.ForeignKey(
        "templates_app.Template", verbose_name=_("template"), on_delete=models.CASCADE, related_name="+"
    )
    provider = models.CharField(_("provider"), max_length=40)
    model = models.CharField(_("model"), max_length=100)
    # Empty for visitors who were not signed in.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    runs = models.PositiveIntegerField(_("runs"), default=0)
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    cancelled = models.PositiveIntegerField(_("cancelled"), default=0)
    input_tokens = models.BigIntegerField(_("input tokens"), default=0)
    output_tokens = models.BigIntegerField(_("output tokens"), default=0)
    cost = models.DecimalField(_("cost (USD)"), max_digits=16, decimal_places=6, default=Decimal("0"))
    unpriced = models.PositiveIntegerField(_("runs of unknown price"), default=0)
    cached = models.PositiveIntegerField(_("answered from the cache"), default=0)
    coalesced = models.PositiveIntegerField(_("answered together with another"), default=0)
    calls_saved = models.PositiveIntegerField(_("calls saved"), default=0)
    cost_saved = models.DecimalField(
        _("cost saved (USD)"), max_digits=16, decimal_places=6, default=Decimal("0")
    )
    ttft_total_ms = models.BigIntegerField(_("total time to first token (ms)"), default=0)
    duration_total_ms = models.BigIntegerField(_("total duration (ms)"), default=0)

    class Meta:
        abstract = True


for _name in (*TTFT_BUCKETS, *DURATION_BUCKETS):
    # One column per histogram bucket, so that the database sums them when rows are grouped.
    RollupFigures.add_to_class(_name, models.PositiveIntegerField(default=0))


class UsageRollup(RollupFigures):
    """What the terminal jobs submitted in one hour add up to, per template, model and owner."""

    key_fields = KEY_FIELDS

    hour = models.DateTimeField(_("hour"))

    objects = UsageRollupQuerySet.as_manager()

    class Meta:
        verbose_name = _("usage rollup")
        verbose_name_plural = _("usage rollups")
        # NULL owners are distinct in a plain unique constraint: visitors' rows get one of their own.
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "template", "provider", "model", "error_code", "owner"],
                condition=Q(owner__isnull=False),
                name="usage_rollup_key",
            ),
            models.UniqueConstraint(
                fields=["hour", "template", "provider", "model", "error_code"],
                condition=Q(owner__isnull=True),
                name="usage_rollup_visitor_key",
            ),
        ]
        indexes = [
            # A person's own usage page and statistics (staff's read the key's hour first).
            models.Index(fields=["owner", "hour"], name="usage_rollup_owner_hour"),
            # A template's own figures on its page.
            models.Index(fields=["template", "hour"], name="usage_rollup_template_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.provider}/{self.model}"


class UsageDayRollup(RollupFigures):
    """The same figures per day (in TIME_ZONE): what periods longer than a day read."""

    key_fields = DAY_KEY_FIELDS

    day = models.DateField(_("day"))

    objects = UsageDayRollupQuerySet.as_manager()

    class Meta:
        verbose_name = _("daily usage rollup")
        verbose_name_plural = _("daily usage rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "template", "provider", "model", "error_code", "owner"],
                condition=Q(owner__isnull=False),
                name="usage_day_rollup_key",
            ),
            models.UniqueConstraint(
                fields=["day", "template", "provider", "model", "error_code"],
                condition=Q(owner__isnull=True),
                name="usage_day_rollup_visitor_key",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "day"], name="usage_day_rollup_owner_day"),
            models.Index(fields=["template", "day"], name="usage_day_rollup_template"),
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.provider}/{self.model}"
