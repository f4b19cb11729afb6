"""The figures of usage rows: what a job adds to its row, histograms, days and periods."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

# Upper bounds (ms, inclusive) of the histogram buckets; one more bucket holds the rest.
# Finer where most calls land (tenths of a second to seconds), coarser beyond.
BUCKET_BOUNDS_MS: tuple[int, ...] = (
    25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500,
    2000, 3000, 4000, 5000, 7500, 10000, 15000, 20000, 30000, 60000, 120000, 300000,
)  # fmt: skip
BUCKET_COUNT = len(BUCKET_BOUNDS_MS) + 1
TTFT_BUCKETS = tuple(f"ttft_b{i}" for i in range(BUCKET_COUNT))
DURATION_BUCKETS = tuple(f"duration_b{i}" for i in range(BUCKET_COUNT))

# The additive figures of a row (summed by the database when rows are grouped).
COUNT_FIELDS = (
    "runs",
    "succeeded",
    "failed",
    "cancelled",
    "input_tokens",
    "output_tokens",
    "cost",
    "unpriced",
    "cached",
    "coalesced",
    "calls_saved",
    "cost_saved",
    "ttft_total_ms",
    "duration_total_ms",
    *TTFT_BUCKETS,
    *DURATION_BUCKETS,
)
# The keys of the rows: the hour (or day) and what the figures are of.
KEY_FIELDS = ("hour", "template_id", "provider", "model", "owner_id", "error_code")
DAY_KEY_FIELDS = ("day", *KEY_FIELDS[1:])

# What count_jobs reads of a job: its own columns, its template and the cost its
# answer would have had (the original's for a cached answer, the leader's for a follower).
JOB_VALUES = (
    "created_at",
    "template_version__template_id",
    "provider",
    "model",
    "owner_id",
    "status",
    "error_code",
    "input_tokens",
    "output_tokens",
    "cost",
    "cached_from_id",
    "cached_from__cost",
    "leader_id",
    "leader__cost",
    "started_at",
    "first_token_at",
    "finished_at",
)


def bucket_index(milliseconds: float) -> int:
    for index, bound in enumerate(BUCKET_BOUNDS_MS):
        if milliseconds <= bound:
            return index
    return len(BUCKET_BOUNDS_MS)


def percentile(buckets: list[int], fraction: float) -> float | None:
    """The ``fraction`` quantile (0.5 for the median) estimated from summed bucket counts.

    Linear inside the bucket holding it; the open last bucket answers its lower bound.
    None when nothing was counted.
    """
    total = sum(buckets)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            lower = BUCKET_BOUNDS_MS[index - 1] if index else 0
            if index == len(BUCKET_BOUNDS_MS):
                return float(lower)
            upper = BUCKET_BOUNDS_MS[index]
            return lower + (upper - lower) * max(rank - seen, 0) / count
        seen += count
    return float(BUCKET_BOUNDS_MS[-1])


def _milliseconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds() * 1000, 0.0)


def hour_of(moment: datetime) -> datetime:
    """The UTC hour a moment falls in (a row's ``hour``)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(hour: datetime) -> date:
    """The day a row's hour counts in: its date in the site's time zone (TIME_ZONE)."""
    return hour.astimezone(timezone.get_default_timezone()).date()


def day_start(day: date) -> datetime:
    """The first UTC hour that counts in ``day`` (its midnight, in a zone a whole number of
    hours from UTC; the hour after it where midnight falls inside an hour)."""
    midnight = datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())
    first = hour_of(midnight)
    return first if first == midnight else first + timedelta(hours=1)


@dataclass(frozen=True)
class Coverage:
    """Which rows add up to a period of whole hours: the hour rows of ``hours`` (half-open
    ranges) and the day rows of ``days`` (first day, day after the last), if any."""

    hours: tuple[tuple[datetime, datetime], ...]
    days: tuple[date, date] | None


def covering(start: datetime, end: datetime) -> Coverage:
    """The rows of ``[start, end)`` (whole UTC hours): the day rows of the whole days inside
    it, and hour rows only for the partial days at either edge."""
    first, after = day_of(start), day_of(end)
    if day_start(first) < start:
        first += timedelta(days=1)
    if first >= after:
        return Coverage(hours=((start, end),), days=None)
    edges = ((start, day_start(first)), (day_start(after), end))
    return Coverage(hours=tuple(edge for edge in edges if edge[0] < edge[1]), days=(first, after))


def contribution(job: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A terminal job's key and what it adds to its row (``job`` holds ``JOB_VALUES``).

    Definitions (the usage page says them too): a cached answer and a follower made no
    provider call, so each is a call saved, worth the cost of the call that answered it
    (unknown when that call's price was); time to first token is measured on a job's own
    call; duration, from start to finish, on every job that was not a cached answer.
    """
    status = job["status"]
    key = (
        hour_of(job["created_at"]),
        job["template_version__template_id"],
        job["provider"],
        job["model"],
        job["owner_id"],
        job["error_code"] if status == "failed" else "",
    )
    cached = job["cached_from_id"] is not None
    coalesced = job["leader_id"] is not None
    saved_cost = job["cached_from__cost"] if cached else job["leader__cost"] if coalesced else None
    figures: dict[str, Any] = {
        "runs": 1,
        "succeeded": int(status == "succeeded"),
        "failed": int(status == "failed"),
        "cancelled": int(status == "cancelled"),
        "input_tokens": job["input_tokens"] or 0,
        "output_tokens": job["output_tokens"] or 0,
        "cost": job["cost"] or Decimal("0"),
        # Tokens spent without a cost: the model's price was unknown (a failure that spent
        # nothing has no cost either, and is not "unpriced").
        "unpriced": int(job["cost"] is None and bool(job["input_tokens"] or job["output_tokens"])),
        "cached": int(cached),
        "coalesced": int(coalesced),
        "calls_saved": int(cached or coalesced),
        "cost_saved": saved_cost or Decimal("0"),
    }
    ttft = None if (cached or coalesced) else _milliseconds(job["started_at"], job["first_token_at"])
    duration = None if cached else _milliseconds(job["started_at"], job["finished_at"])
    if ttft is not None:
        figures["ttft_total_ms"] = round(ttft)
        figures[TTFT_BUCKETS[bucket_index(ttft)]] = 1
    if duration is not None:
        figures["duration_total_ms"] = round(duration)
        figures[DURATION_BUCKETS[bucket_index(duration)]] = 1
    return key, figures


def add_up(jobs: Iterable[Mapping[str, Any]], sign: int = 1) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The contributions of ``jobs`` per row key (negated for ``sign=-1``)."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    for job in jobs:
        key, figures = contribution(job)
        row = rows[key]
        for name, value in figures.items():
            row[name] = row.get(name, 0) + sign * value
    return rows


@dataclass(frozen=True)
class Summary:
    """A few figures of a set of rows: what a template's page shows its managers."""

    runs: int
    succeeded: int
    failed: int
    cost: Decimal
    calls_saved: int
    cost_saved: Decimal
    duration_p50_ms: float | None

    @property
    def success_rate(self) -> float | None:
        """Succeeded among those that succeeded or failed (a cancel is neither)."""
        ended = self.succeeded + self.failed
        return self.succeeded / ended if ended else None

    @classmethod
    def of(cls, sums: Iterable[Mapping[str, Any]]) -> Summary:
        """The summary of summed figures (``totals()`` of one or more sets of rows)."""
        added: dict[str, Any] = defaultdict(int)
        for part in sums:
            for name, value in part.items():
                added[name] += value
        return cls(
            runs=added["runs"],
            succeeded=added["succeeded"],
            failed=added["failed"],
            cost=Decimal(added["cost"]),
            calls_saved=added["calls_saved"],
            cost_saved=Decimal(added["cost_saved"]),
            duration_p50_ms=percentile([added[name] for name in DURATION_BUCKETS], 0.5),
        )


def by_day(rows: Mapping[tuple[Any, ...], Mapping[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Hour rows' figures (keyed as ``add_up`` keys them) added up into their days' rows."""
    days: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    for (hour, *rest), figures in rows.items():
        row = days[(day_of(hour), *rest)]
        for name, value in figures.items():
            row[name] = row.get(name, 0) + value
    return days
