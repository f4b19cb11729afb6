"""Usage rollups: what finished jobs add up to, per hour, kept as jobs finish.

A job counts in the row of the hour it was *submitted* in (``created_at``, which never
changes, so a job's row never moves) × its template × provider × model × owner × error
code, once it reaches a terminal status. The rows are changed in the same transaction as
the job's own terminal change (``Job._finish``, ``Job.cancel``, an answer from the cache),
so the figures never disagree with the jobs; a later change of a counted job (the tokens a
cancelled run spent, a visitor's jobs adopted on sign-in) takes its old contribution out
and puts the new one in, in one transaction with the change.

Why rollups rather than aggregates over jobs: a usage page over 30 days then reads a few
rows per hour instead of every job of the month (bench/usage.py measures both sizes).
Percentiles can't be added up, so each row keeps a fixed-bucket histogram of time to first
token and of duration (one integer column per bucket, summed by the database); the
percentiles are read from the summed buckets by linear interpolation inside the bucket
(``percentile``): an estimate whose error is bounded by the bucket's width.

Deliberately not a signal: the jobs' state changes call ``count_jobs`` themselves, inside
their transaction (docs/architecture.md, "Usage").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q, Sum
from django.utils.translation import gettext_lazy as _

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
KEY_FIELDS = ("hour", "template_id", "provider", "model", "owner_id", "error_code")

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


class UsageRollupQuerySet(models.QuerySet["UsageRollup"]):
    def count_jobs(self, job_ids: Iterable[Any], *, sign: int = 1) -> None:
        """Add (or with ``sign=-1`` take out) these terminal jobs' contributions.

        Call inside the transaction that made them terminal (or changed them), so the
        rows commit or roll back with the jobs. Increments are ``F()`` updates: two
        transactions counting into one row at once both land.
        """
        from .models import TERMINAL_STATUSES, Job

        ids = list(job_ids)
        if not ids:
            return
        jobs = Job.objects.filter(pk__in=ids, status__in=TERMINAL_STATUSES).values(*JOB_VALUES)
        for key, figures in add_up(jobs, sign).items():
            self._add(key, figures)

    def _add(self, key: tuple[Any, ...], figures: dict[str, Any]) -> None:
        lookup = dict(zip(KEY_FIELDS, key, strict=True))
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
        sums = self.totals()
        return Summary(
            runs=sums["runs"],
            succeeded=sums["succeeded"],
            failed=sums["failed"],
            cost=Decimal(sums["cost"]),
            calls_saved=sums["calls_saved"],
            cost_saved=Decimal(sums["cost_saved"]),
            duration_p50_ms=percentile([sums[name] for name in DURATION_BUCKETS], 0.5),
        )

    def grouped(self, *group: Any, **expressions: Any) -> models.QuerySet[Any]:
        """Summed figures per group (``values(*group, **expressions)``), ordered by the group."""
        columns = [*group, *expressions]
        return (
            self.values(*group, **expressions)
            .annotate(**{f"sum_{name}": Sum(name) for name in COUNT_FIELDS})
            .order_by(*columns)
        )


def rebuild(job_model: Any, rollup_model: Any, *, batch_size: int = 5000) -> int:
    """Recount every row from the jobs (a backfill, or a repair); the number of rows written.

    Takes the models so the data migration can pass its historical ones.
    """
    rows: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(dict)
    jobs = job_model.objects.filter(status__in=["succeeded", "failed", "cancelled"]).order_by()
    for key, figures in add_up(jobs.values(*JOB_VALUES).iterator(chunk_size=batch_size)).items():
        row = rows[key]
        for name, value in figures.items():
            row[name] = row.get(name, 0) + value
    with transaction.atomic():
        rollup_model.objects.all().delete()
        rollup_model.objects.bulk_create(
            (
                rollup_model(**dict(zip(KEY_FIELDS, key, strict=True)), **figures)
                for key, figures in rows.items()
            ),
            batch_size=batch_size,
        )
    return len(rows)


class UsageRollup(models.Model):
    """What the terminal jobs submitted in one hour add up to, per template, model and owner."""

    hour = models.DateTimeField(_("hour"))
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


for _name in (*TTFT_BUCKETS, *DURATION_BUCKETS):
    # One column per histogram bucket, so that the database sums them when rows are grouped.
    UsageRollup.add_to_class(_name, models.PositiveIntegerField(default=0))
