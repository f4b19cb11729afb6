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

Each job is counted twice: in its hour's row and in its day's row (``UsageDayRollup``, the
day in the site's TIME_ZONE). A period of more than a day reads the day rows of the whole days
it holds and hour rows only for its partial days at either edge (``covering``), so a month
reads about thirty rows per template, model and person rather than seven hundred. Changing
TIME_ZONE moves the days' edges: run ``manage.py rebuild_usage_rollups`` after it.

Deliberately not a signal: the jobs' state changes call ``count_jobs`` themselves, inside
their transaction (docs/architecture.md, "Usage").
"""

from __future__ import annotations

from .figures import (
    BUCKET_BOUNDS_MS,
    BUCKET_COUNT,
    COUNT_FIELDS,
    DURATION_BUCKETS,
    JOB_VALUES,
    TTFT_BUCKETS,
    Coverage,
    Summary,
    add_up,
    bucket_index,
    by_day,
    contribution,
    covering,
    day_of,
    day_start,
    hour_of,
    percentile,
)
from .tables import (
    RollupQuerySet,
    UsageDayRollup,
    UsageDayRollupQuerySet,
    UsageRollup,
    UsageRollupQuerySet,
    rebuild,
    rows_covering,
)

__all__ = [
    "BUCKET_BOUNDS_MS",
    "BUCKET_COUNT",
    "COUNT_FIELDS",
    "DURATION_BUCKETS",
    "JOB_VALUES",
    "TTFT_BUCKETS",
    "Coverage",
    "RollupQuerySet",
    "Summary",
    "UsageDayRollup",
    "UsageDayRollupQuerySet",
    "UsageRollup",
    "UsageRollupQuerySet",
    "add_up",
    "bucket_index",
    "by_day",
    "contribution",
    "covering",
    "day_of",
    "day_start",
    "hour_of",
    "percentile",
    "rebuild",
    "rows_covering",
]
