"""The usage figures: rollup rows grouped over a period, into what the page and the API show."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F, QuerySet
from django.utils import timezone

from jobs.rollups import (
    DURATION_BUCKETS,
    TTFT_BUCKETS,
    RollupQuerySet,
    UsageDayRollup,
    UsageRollup,
    hour_of,
    percentile,
    rows_covering,
)
from templates_app.model_choices import model_choice

# Longest ranges, so that no request asks for an unbounded table.
MAX_DAYS = 366
MAX_HOURS = 31 * 24
# The years a period may fall in: far from datetime's limits (a period is widened to whole hours).
FIRST_YEAR, LAST_YEAR = 1970, 9000

GROUPINGS = ("day", "hour", "template", "model", "person")


@dataclass(frozen=True)
class Period:
    """A half-open range of whole UTC hours, [start, end)."""

    start: datetime
    end: datetime

    @classmethod
    def around(cls, start: datetime, end: datetime) -> Period:
        """The whole hours holding ``[start, end)``: figures are counted per hour."""
        last = hour_of(end)
        return cls(hour_of(start), last if last == end else last + timedelta(hours=1))

    @classmethod
    def last(cls, hours: int) -> Period:
        end = hour_of(timezone.now()) + timedelta(hours=1)
        return cls(end - timedelta(hours=hours), end)

    @property
    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // 3600)

    def steps(self, grouping: str) -> list[Any]:
        """Every hour (aware datetimes) or day (dates in the current time zone) of the period."""
        if grouping == "hour":
            return [self.start + timedelta(hours=i) for i in range(self.hours)]
        first = timezone.localtime(self.start).date()
        last = timezone.localtime(self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass
class Figures:
    """What one group adds up to."""

    group: Any = None
    label: str = ""
    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal("0")
    unpriced: int = 0
    cached: int = 0
    coalesced: int = 0
    calls_saved: int = 0
    cost_saved: Decimal = Decimal("0")
    ttft_buckets: list[int] = field(default_factory=lambda: [0] * len(TTFT_BUCKETS))
    duration_buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))

    @classmethod
    def from_sums(cls, sums: dict[str, Any], **names: Any) -> Figures:
        def summed(name: str) -> Any:
            return sums.get(f"sum_{name}") or 0

        return cls(
            **names,
            **{
                name: summed(name)
                for name in ("runs", "succeeded", "failed", "cancelled", "input_tokens", "output_tokens")
                + ("unpriced", "cached", "coalesced", "calls_saved")
            },
            cost=Decimal(summed("cost")),
            cost_saved=Decimal(summed("cost_saved")),
            ttft_buckets=[summed(name) for name in TTFT_BUCKETS],
            duration_buckets=[summed(name) for name in DURATION_BUCKETS],
        )

    def add(self, other: Figures) -> None:
        for name in ("runs", "succeeded", "failed", "cancelled", "input_tokens", "output_tokens", "cost")+ (
            "unpriced", "cached", "coalesced", "calls_saved", "cost_saved"
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ttft_buckets = [a + b for a, b in zip(self.ttft_buckets, other.ttft_buckets, strict=True)]
        self.duration_buckets = [
            a + b for a, b in zip(self.duration_buckets, other.duration_buckets, strict=True)
        ]

    def _ms(self, buckets: list[int], fraction: float) -> int | None:
        value = percentile(buckets, fraction)
        return None if value is None else round(value)

    @property
    def ttft_p50_ms(self) -> int | None:
        return self._ms(self.ttft_buckets, 0.5)

    @property
    def ttft_p95_ms(self) -> int | None:
        return self._ms(self.ttft_buckets, 0.95)

    @property
    def duration_p50_ms(self) -> int | None:
        return self._ms(self.duration_buckets, 0.5)

    @property
    def duration_p95_ms(self) -> int | None:
        return self._ms(self.duration_buckets, 0.95)

    @property
    def success_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None


@dataclass(frozen=True)
class Rollups:
    """The rows someone may see (``scope.visible_rollups``): the same rows by hour and by day."""

    hours: QuerySet[UsageRollup]
    days: QuerySet[UsageDayRollup]

    def covering(self, period: Period) -> list[RollupQuerySet]:
        """The rows adding up to the period: day rows for its whole days, hour rows for the rest."""
        return rows_covering(self.hours, self.days, period.start, period.end)  # type: ignore[arg-type]


def _merged(rows: Iterable[tuple[Any, dict[str, Any]]]) -> dict[Any, Figures]:
    """Figures per key, adding up the rows (from hour and day rows) that share one."""
    found: dict[Any, Figures] = {}
    for key, sums in rows:
        figures = Figures.from_sums(sums)
        if key in found:
            found[key].add(figures)
        else:
            found[key] = figures
    return found


def over_time(rollups: Rollups, period: Period, grouping: str) -> list[Figures]:
    """One ``Figures`` per hour or day of the period, empty steps included (a chart's x axis)."""
    if grouping == "hour":
        parts = [rollups.hours.filter(hour__gte=period.start, hour__lt=period.end).grouped(step=F("hour"))]
    else:
        parts = [part.grouped_by_day() for part in rollups.covering(period)]
    found = _merged((_step_key(row["step"], grouping), row) for part in parts for row in part)
    return [_named(found.get(step) or Figures(), step) for step in period.steps(grouping)]


def _step_key(value: Any, grouping: str) -> Any:
    if grouping == "hour":
        return value
    return timezone.localtime(value).date() if isinstance(value, datetime) else value


def _named(figures: Figures, step: Any) -> Figures:
    figures.group = step
    figures.label = step.isoformat()
    return figures


# The columns each breakdown groups by.
GROUP_COLUMNS = {
    "template": ("template__slug", "template__name"),
    "model": ("provider", "model"),
    "person": ("owner__email",),
    "error": ("error_code",),
}


def _group_and_label(grouping: str, key: tuple[Any, ...]) -> tuple[Any, str]:
    if grouping == "template":
        return key[0], key[1]
    if grouping == "model":
        choice = model_choice(*key)
        return choice, choice
    return key[0], key[0] or ""


def by_group(rollups: Rollups, period: Period, grouping: str) -> list[Figures]:
    """One ``Figures`` per template, provider and model, person or error code (most runs first)."""
    if grouping not in GROUP_COLUMNS:
        raise ValueError(grouping)
    columns = GROUP_COLUMNS[grouping]
    parts = rollups.covering(period)
    if grouping == "error":
        parts = [part.filter(failed__gt=0) for part in parts]
    found = _merged(
        (tuple(row[column] for column in columns), row) for part in parts for row in part.grouped(*columns)
    )
    for key, figures in found.items():
        figures.group, figures.label = _group_and_label(grouping, key)
    # A row whose jobs all moved away (a visitor's, adopted on sign-in) adds up to nothing.
    kept = [figures for figures in found.values() if figures.runs]
    return sorted(kept, key=lambda figures: (-figures.runs, str(figures.group)))


def grouped(rollups: Rollups, period: Period, grouping: str) -> list[Figures]:
    if grouping in ("day", "hour"):
        return over_time(rollups, period, grouping)
    return by_group(rollups, period, grouping)


def total(groups: list[Figures]) -> Figures:
    result = Figures()
    for figures in groups:
        result.add(figures)
    return result
