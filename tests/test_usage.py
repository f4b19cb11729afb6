"""Usage figures: the rollups, the usage page, a template's own figures and GET /api/v1/stats
hold the same numbers as sums computed here straight from the jobs."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import User
from jobs.models import TERMINAL_STATUSES, Job, JobStatus, input_hash
from jobs.rollups import (
    BUCKET_BOUNDS_MS,
    UsageDayRollup,
    UsageRollup,
    bucket_index,
    covering,
    day_of,
    day_start,
    percentile,
    rebuild,
)
from jobs.services import submit_generation
from templates_app.models import Template

from .test_api import jwt_for

pytestmark = pytest.mark.django_db


def _queued(
    template: Template, owner: User | None, *, hash_: str, session_key: str = "", **fields: Any
) -> Job:
    version = template.published_version
    return Job.objects.create(
        template_version=version,
        owner=owner,
        session_key=session_key,
        prompt="p",
        provider=version.provider,
        model=version.model,
        input_hash=hash_,
        **fields,
    )


def _run(job: Job, *, ttft_ms: int, duration_ms: int) -> int:
    """Claim the job and backdate its start so that its times are the ones given."""
    attempt = job.claim("task")
    assert attempt is not None
    started = timezone.now() - timedelta(milliseconds=duration_ms)
    Job.objects.filter(pk=job.pk).update(
        started_at=started, first_token_at=started + timedelta(milliseconds=ttft_ms)
    )
    job.refresh_from_db()
    return attempt


def _succeed(
    job: Job, *, tokens: tuple[int, int], cost: Decimal | None, ttft_ms: int, duration_ms: int
) -> None:
    attempt = _run(job, ttft_ms=ttft_ms, duration_ms=duration_ms)
    assert job.mark_succeeded(
        attempt, output="ok", input_tokens=tokens[0], output_tokens=tokens[1], cost=cost
    )


@pytest.fixture
def history(make_template: Any, owner: User, other_user: User, settings: Any) -> dict[str, Any]:
    """Every kind of finish, through the jobs' own state changes."""
    settings.JOB_CACHE_TTL = 3600
    haiku = make_template(slug="haiku", owner=owner)
    limerick = make_template(slug="limerick", owner=owner)
    # A leader with two followers (one of another person), then answers from the cache of it.
    inputs = {"topic": "x", "count": 2}
    version = haiku.published_version
    model_settings = {k: v for k, v in version.model_settings.items() if k != "allowed_models"}
    digest = input_hash(version_id=version.pk, model_settings=model_settings, inputs=inputs)
    leader = _queued(haiku, owner, hash_=digest, active_key=digest)
    follower = _queued(haiku, owner, hash_=digest, leader=leader)
    others_follower = _queued(haiku, other_user, hash_=digest, leader=leader)
    _succeed(leader, tokens=(100, 40), cost=Decimal("0.012000"), ttft_ms=180, duration_ms=900)
    cached = submit_generation(version, inputs, owner=owner)
    assert cached.cached_from_id == leader.pk
    # Failures by code, a cancelled run that spent tokens, and a run of unknown price.
    for code, duration in (("provider_error", 2500), ("provider_error", 4000), ("time_limit", 61000)):
        job = _queued(limerick, owner, hash_=f"f{duration}", active_key=f"f{duration}")
        attempt = _run(job, ttft_ms=300, duration_ms=duration)
        assert job.mark_failed(attempt, code=code, message="")
    cancelled = _queued(limerick, owner, hash_="c1", active_key="c1")
    attempt = _run(cancelled, ttft_ms=220, duration_ms=1200)
    assert cancelled.cancel()
    assert cancelled.record_partial_usage(
        attempt, output="half", input_tokens=50, output_tokens=5, cost=Decimal("0.001000")
    )
    unpriced = _queued(limerick, owner, hash_="u1", active_key="u1")
    _succeed(unpriced, tokens=(10, 10), cost=None, ttft_ms=90, duration_ms=450)
    # Another person's own run, and a visitor's run adopted when the visitor signed in.
    theirs = _queued(limerick, other_user, hash_="o1", active_key="o1")
    _succeed(theirs, tokens=(7, 3), cost=Decimal("0.500000"), ttft_ms=1000, duration_ms=3000)
    visitor = _queued(haiku, None, hash_="v1", active_key="v1", session_key="s1")
    _succeed(visitor, tokens=(20, 20), cost=Decimal("0.002000"), ttft_ms=150, duration_ms=700)
    assert Job.objects.adopt_anonymous("s1", owner) == 1
    still_running = _queued(haiku, owner, hash_="r1", active_key="r1")
    still_running.claim("task")
    return {"haiku": haiku, "limerick": limerick, "follower": follower, "others_follower": others_follower}


def expected(jobs: Any) -> dict[str, Any]:
    """The figures, summed here from the jobs themselves."""
    finished = [job for job in jobs if job.status in TERMINAL_STATUSES]
    saved = [job for job in finished if job.cached_from_id or job.leader_id]
    timed = [job for job in finished if job.cached_from_id is None and job.started_at]
    return {
        "runs": len(finished),
        "succeeded": sum(job.status == JobStatus.SUCCEEDED for job in finished),
        "failed": sum(job.status == JobStatus.FAILED for job in finished),
        "cancelled": sum(job.status == JobStatus.CANCELLED for job in finished),
        "input_tokens": sum(job.input_tokens or 0 for job in finished),
        "output_tokens": sum(job.output_tokens or 0 for job in finished),
        "cost": sum((job.cost or Decimal(0) for job in finished), Decimal(0)),
        "unpriced": sum(job.cost is None and bool(job.input_tokens or job.output_tokens) for job in finished),
        "cached": sum(job.cached_from_id is not None for job in finished),
        "coalesced": sum(job.leader_id is not None for job in finished),
        "calls_saved": len(saved),
        "cost_saved": sum(((job.cached_from or job.leader).cost or Decimal(0) for job in saved), Decimal(0)),
        "durations": sorted((job.finished_at - job.started_at).total_seconds() * 1000 for job in timed),
    }


def assert_estimate_near(estimate: float | None, exact_values: list[float], fraction: float) -> None:
    """A histogram's percentile is within one bucket's width of the exact one."""
    exact = statistics.quantiles(exact_values, n=100, method="inclusive")[round(fraction * 100) - 1]
    index = bucket_index(exact)
    width = BUCKET_BOUNDS_MS[min(index, len(BUCKET_BOUNDS_MS) - 1)]
    assert estimate is not None and abs(estimate - exact) <= width, (estimate, exact)


def test_rollups_equal_the_sums_of_the_jobs(history: dict[str, Any], owner: User, other_user: User) -> None:
    for user in (owner, other_user):
        jobs = list(Job.objects.filter(owner=user).select_related("cached_from", "leader"))
        want = expected(jobs)
        got = UsageRollup.objects.filter(owner=user).totals()
        for name in ("runs", "succeeded", "failed", "cancelled", "input_tokens", "output_tokens", "cost") + (
            "unpriced", "cached", "coalesced", "calls_saved", "cost_saved"
        ):  # fmt: skip
            assert got[name] == want[name], (user, name)
    mine = expected(list(Job.objects.filter(owner=owner).select_related("cached_from", "leader")))
    assert mine["cached"] == 1 and mine["coalesced"] == 1 and mine["cancelled"] == 1 and mine["unpriced"] == 1
    assert not UsageRollup.objects.filter(owner__isnull=True).exclude(runs=0).exists()  # the visitor's moved


def test_a_rebuild_from_the_jobs_gives_the_same_rows(history: dict[str, Any]) -> None:
    fields = [f.name for f in UsageRollup._meta.fields if f.name != "id"]
    kept = sorted(UsageRollup.objects.exclude(runs=0).values_list(*fields))
    rebuild(Job, UsageRollup)
    assert sorted(UsageRollup.objects.values_list(*fields)) == kept


def test_percentiles_from_buckets_are_within_a_bucket_of_the_exact_ones() -> None:
    values = [30, 80, 120, 180, 260, 450, 900, 1300, 2600, 9000]
    buckets = [0] * (len(BUCKET_BOUNDS_MS) + 1)
    for value in values:
        buckets[bucket_index(value)] += 1
    for fraction in (0.5, 0.95):
        assert_estimate_near(percentile(buckets, fraction), values, fraction)
    assert percentile([0] * len(buckets), 0.5) is None


def _stats(client: Client, user: User, **params: str) -> dict[str, Any]:
    response = client.get("/api/v1/stats", params, headers={"Authorization": f"Bearer {jwt_for(user)}"})
    assert response.status_code == 200, response.content
    return response.json()


def test_stats_api_equals_the_sums_of_the_jobs(client: Client, history: dict[str, Any], owner: User) -> None:
    want = expected(list(Job.objects.filter(owner=owner).select_related("cached_from", "leader")))
    for group_by in ("day", "hour", "template", "model", "person"):
        body = _stats(client, owner, group_by=group_by)
        assert body["group_by"] == group_by
        for name in ("runs", "succeeded", "failed", "input_tokens", "output_tokens", "cached", "coalesced"):
            assert sum(group[name] for group in body["groups"]) == want[name] == body["total"][name], name
        assert Decimal(body["total"]["cost"]) == want["cost"]
        assert Decimal(body["total"]["cost_saved"]) == want["cost_saved"]
        assert set(body["total"]) == {
            "runs", "succeeded", "failed", "input_tokens", "output_tokens", "cost", "cached", "coalesced",
            "calls_saved", "cost_saved", "ttft_p50_ms", "ttft_p95_ms", "duration_p50_ms", "duration_p95_ms",
        }  # fmt: skip
        for fraction, name in ((0.5, "duration_p50_ms"), (0.95, "duration_p95_ms")):
            assert_estimate_near(body["total"][name], want["durations"], fraction)
    by_template = {
        group["group"]: group["runs"] for group in _stats(client, owner, group_by="template")["groups"]
    }
    assert by_template == {
        slug: sum(
            1
            for job in Job.objects.filter(owner=owner, template_version__template__slug=slug)
            if job.is_terminal
        )
        for slug in ("haiku", "limerick")
    }
    assert [g["group"] for g in _stats(client, owner, group_by="person")["groups"]] == [owner.email]


def test_stats_api_refuses_a_bad_range(client: Client, owner: User) -> None:
    headers = {"Authorization": f"Bearer {jwt_for(owner)}"}
    for params in (
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "yesterday"},
        {"from": ""},
        {"group_by": "week"},
        {"group_by": ""},
        {"from": "2020-01-01", "to": "2026-01-01"},
        {"from": "2026-01-01", "to": "2026-03-01", "group_by": "hour"},
        {"to": "0001-01-02"},
        {"from": "9999-12-31T23:30:00Z"},
    ):
        response = client.get("/api/v1/stats", params, headers=headers)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == "validation_error"


def test_each_person_sees_only_their_own_figures_and_staff_everyone(
    client: Client, history: dict[str, Any], owner: User, other_user: User, staff: User
) -> None:
    assert client.get("/api/v1/stats").status_code == 401
    assert client.get("/usage/").status_code == 302  # to sign in
    all_jobs = list(Job.objects.select_related("cached_from", "leader"))
    for user, jobs in (
        (owner, [job for job in all_jobs if job.owner_id == owner.pk]),
        (other_user, [job for job in all_jobs if job.owner_id == other_user.pk]),
        (staff, all_jobs),
    ):
        assert _stats(client, user)["total"]["runs"] == expected(jobs)["runs"]
        client.force_login(user)
        page = client.get("/usage/")
        assert page.context["total"].runs == expected(jobs)["runs"]
        assert page.context["total"].cost == expected(jobs)["cost"]
        assert ("by-person" in [t.slug for t in page.context["tables"]]) is user.is_staff
        client.logout()
    people = {g["group"] for g in _stats(client, staff, group_by="person")["groups"]}
    assert people == {owner.email, other_user.email}


def test_usage_page_tables_and_csv_hold_the_figures(
    client: Client, history: dict[str, Any], owner: User
) -> None:
    client.force_login(owner)
    want = expected(list(Job.objects.filter(owner=owner).select_related("cached_from", "leader")))
    response = client.get("/usage/", {"period": "24h"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-chart="runs"' in html and 'data-chart-table="runs"' in html
    rows = list(
        csv.reader(io.StringIO(client.get("/usage/", {"period": "24h", "csv": "runs"}).content.decode()))
    )
    assert rows[0] == ["Hour", "Succeeded", "Failed", "Cancelled"]
    assert len(rows) == 1 + 24
    assert sum(int(row[1]) for row in rows[1:]) == want["succeeded"]
    assert sum(int(row[2]) for row in rows[1:]) == want["failed"]
    errors = list(csv.reader(io.StringIO(client.get("/usage/", {"csv": "errors"}).content.decode())))
    assert {row[0]: int(row[1]) for row in errors[1:]} == {"provider_error": 2, "time_limit": 1}
    saved = list(csv.reader(io.StringIO(client.get("/usage/", {"csv": "cost-saved"}).content.decode())))
    assert sum(Decimal(row[1]) for row in saved[1:]) == want["cost_saved"]
    assert client.get("/usage/", {"csv": "nonsense"}).status_code == 404


def test_usage_page_in_portuguese_uses_its_number_format(
    client: Client, history: dict[str, Any], owner: User
) -> None:
    client.force_login(owner)
    html = client.get("/usage/", headers={"accept-language": "pt-br"}).content.decode()
    assert "Execuções por status" in html
    assert "0,0150" in html  # the cost, with a decimal comma


def test_usage_period_form_shows_its_errors(client: Client, owner: User) -> None:
    client.force_login(owner)
    response = client.get("/usage/", {"period": "custom", "start": "2026-03-01", "end": "2026-02-01"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Error:" in html and "The last day must be the same as or after the first day." in html
    for start, end in (
        ("0001-01-01", "0001-01-01"),
        ("9999-12-31", "9999-12-31"),
        ("2026-02-30", "2026-03-01"),
    ):
        response = client.get("/usage/", {"period": "custom", "start": start, "end": end})
        assert response.status_code == 200 and "<title>Error:" in response.content.decode()


def test_a_custom_period_counts_whole_days(client: Client, history: dict[str, Any], owner: User) -> None:
    client.force_login(owner)
    today = timezone.localdate()
    response = client.get("/usage/", {"period": "custom", "start": str(today), "end": str(today)})
    want = expected(list(Job.objects.filter(owner=owner).select_related("cached_from", "leader")))
    assert response.context["total"].runs == want["runs"]
    before = today - timedelta(days=3)
    response = client.get("/usage/", {"period": "custom", "start": str(before), "end": str(before)})
    assert response.context["total"].runs == 0


def test_template_page_shows_its_figures_to_its_managers_only(
    client: Client, history: dict[str, Any], owner: User, other_user: User
) -> None:
    limerick = history["limerick"]
    Template.objects.filter(pk=limerick.pk).update(visibility="public")
    jobs = [job for job in Job.objects.filter(template_version__template=limerick) if job.is_terminal]
    client.force_login(owner)
    figures = client.get(f"/t/{limerick.slug}/").context["usage"]
    assert figures.runs == len(jobs)
    assert figures.cost == sum((job.cost or Decimal(0) for job in jobs), Decimal(0))
    client.force_login(other_user)
    assert client.get(f"/t/{limerick.slug}/").context["usage"] is None


# --- Day rows: periods longer than a day read them ------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "America/Sao_Paulo", "Asia/Kolkata", "Europe/Lisbon"])
def test_a_period_is_covered_by_day_rows_and_edge_hours_exactly_once(zone: str) -> None:
    """Every hour of a period counts once: in an hour row at an edge or in its day's row."""
    with timezone.override(zone), override_settings(TIME_ZONE=zone):
        start = datetime(2026, 3, 1, 5, tzinfo=UTC)
        for offset_hours, length_hours in (
            (0, 1),
            (3, 20),
            (0, 24),
            (19, 49),
            (7, 24 * 40 + 5),
            (0, 24 * 366),
        ):
            first = start + timedelta(hours=offset_hours)
            end = first + timedelta(hours=length_hours)
            coverage = covering(first, end)
            hours = [first + timedelta(hours=i) for i in range(length_hours)]
            in_edges = {hour for a, b in coverage.hours for hour in hours if a <= hour < b}
            in_days = (
                {hour for hour in hours if coverage.days[0] <= day_of(hour) < coverage.days[1]}
                if coverage.days
                else set()
            )
            assert not in_edges & in_days, (zone, offset_hours, length_hours)
            assert in_edges | in_days == set(hours), (zone, offset_hours, length_hours)
            # …and no day row holds an hour outside the period.
            if coverage.days:
                assert day_start(coverage.days[0]) >= first and day_start(coverage.days[1]) <= end
            if length_hours >= 49:
                assert coverage.days is not None  # a long period reads day rows


def test_day_rows_equal_the_jobs_of_each_day(client: Client, make_template: Any, owner: User) -> None:
    """Jobs spread over past days (near midnight too): the API's days and totals over 30 days
    (day rows for whole days, hour rows at the edges) equal sums from the jobs, and a rebuild
    gives the same day rows."""
    template = make_template(slug="days", owner=owner)
    now = timezone.now()
    backdated = [timedelta(days=d, hours=h) for d, h in ((1, 0), (2, 5), (2, 23), (6, 12), (12, 1), (29, 2))]
    for n, age in enumerate([timedelta(0), *backdated]):
        job = _queued(template, owner, hash_=f"d{n}", active_key=f"d{n}", created_at=now - age)
        _succeed(job, tokens=(10 + n, n), cost=Decimal("0.001000"), ttft_ms=100, duration_ms=500 + n)
    per_day: dict[str, int] = {}
    for job in Job.objects.filter(owner=owner):
        day = str(timezone.localtime(job.created_at).date())
        per_day[day] = per_day.get(day, 0) + 1
    assert UsageDayRollup.objects.filter(owner=owner).count() == len(per_day)
    body = _stats(client, owner, group_by="day")
    assert {g["group"]: g["runs"] for g in body["groups"] if g["runs"]} == per_day
    assert body["total"]["runs"] == len(backdated) + 1
    assert body["total"]["input_tokens"] == sum(job.input_tokens for job in Job.objects.filter(owner=owner))
    assert _stats(client, owner, group_by="template")["total"]["runs"] == len(backdated) + 1
    fields = [f.name for f in UsageDayRollup._meta.fields if f.name != "id"]
    kept = sorted(UsageDayRollup.objects.values_list(*fields))
    rebuild(Job, UsageRollup, UsageDayRollup)
    assert sorted(UsageDayRollup.objects.values_list(*fields)) == kept


def test_usage_csv_downloads_never_hold_a_formula(
    client: Client, history: dict[str, Any], other_user: User, staff: User
) -> None:
    """A person's address (or a template's name) is anybody's text: "=2+3@example.com" is a
    valid address, and a spreadsheet opening the download must show it, not run it."""
    User.objects.filter(pk=other_user.pk).update(email="=2+3@example.com")
    client.force_login(staff)
    rows = list(csv.reader(io.StringIO(client.get("/usage/", {"csv": "by-person"}).content.decode())))
    people = [row[0] for row in rows[1:]]
    assert "'=2+3@example.com" in people and "=2+3@example.com" not in people
