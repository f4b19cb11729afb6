"""No overspend under concurrency: many API submissions at once against one budget, through
the real web server, the real worker, PostgreSQL and the fake provider."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from accounts.models import PersonalToken, User
from budgets import services
from budgets.models import Budget, Period, Reservation, month_of
from jobs.models import Job, JobStatus
from templates_app.models import Template, Visibility
from workspaces.services import create_team_workspace

from .conftest import wait_until
from .fakes.llm_server import Behaviour

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.needs_postgres]

SUBMISSIONS = 50
ALLOWED = 10


def test_fifty_submissions_at_once_against_a_budget_for_ten_make_ten_calls(
    live_server_url: str, llm, worker
) -> None:
    owner = User.objects.create_user("budget-race@example.com", "correct horse battery", plan="enterprise")
    team = create_team_workspace(owner, "Race")
    template = Template.objects.create(
        slug="race",
        name="Race",
        owner=owner,
        visibility=Visibility.PRIVATE,
        workspace=team,
        cache_results=False,
    )
    # A model the fake server answers; its author is the system (no price needed), and the
    # budget limits tokens. Every prompt is as long as every other: one reservation each.
    template.create_version(
        body="Write about {{ topic }}.",
        parameters=[{"name": "topic", "type": "string", "label": "Topic", "max_length": 50}],
        provider="anthropic",
        model="claude-race",
        max_tokens=40,
    )
    per_run = services.estimated_prompt_tokens("Write about t-00.") + 40
    budget = Budget.objects.create(workspace=team, token_limit=per_run * ALLOWED)
    _token, raw = PersonalToken.issue(owner, "race")
    # The calls wait until every submission was answered, so no run ends (and gives back
    # what it did not use) while others are still being decided: exactly ALLOWED fit.
    released = threading.Event()
    llm.when("Write about t-", Behaviour(hold_until=released))
    start = threading.Barrier(SUBMISSIONS)

    def submit(n: int) -> httpx.Response:
        with httpx.Client(base_url=live_server_url, timeout=60) as client:
            start.wait()
            return client.post(
                f"/api/v1/templates/{template.slug}/generate",
                json={"inputs": {"topic": f"t-{n:02d}"}},
                headers={"Authorization": f"Bearer {raw}"},
            )

    try:
        with ThreadPoolExecutor(max_workers=SUBMISSIONS) as pool:
            responses = list(pool.map(submit, range(SUBMISSIONS)))
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [202] * ALLOWED + [402] * (SUBMISSIONS - ALLOWED), statuses
        refused = [response.json()["error"] for response in responses if response.status_code == 402]
        assert {error["code"] for error in refused} == {"budget_exhausted"}
        period = Period.objects.get(budget=budget, month=month_of())
        assert period.reserved_tokens == per_run * ALLOWED and period.spent_tokens == 0
    finally:
        released.set()
    wait_until(lambda: Job.objects.filter(status=JobStatus.SUCCEEDED).count() == ALLOWED, timeout=60)
    assert Job.objects.count() == ALLOWED
    assert len(llm.calls_containing("Write about t-")) == ALLOWED
    wait_until(lambda: not Reservation.objects.filter(settled_at__isnull=True).exists(), timeout=20)
    period = Period.objects.get(budget=budget, month=month_of())
    spent = sum(job.total_tokens for job in Job.objects.all())
    assert period.reserved_tokens == 0 and period.spent_tokens == spent
    assert 0 < period.spent_tokens <= budget.token_limit
