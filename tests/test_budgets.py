"""Budgets: a workspace's and a member's monthly limits, reserved at submission and
settled at the job's end (budgets.services), on the form page and in the API."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client

from accounts.models import User
from budgets import services
from budgets.models import Budget, Period, Reservation, month_of, resets_at
from jobs.models import Job, JobStatus
from jobs.services import SubmissionError, submit_generation
from providers.models import ModelPrice
from templates_app.models import Template, Visibility
from workspaces.models import Membership, Role, Workspace
from workspaces.services import create_team_workspace

pytestmark = pytest.mark.django_db

TOPIC = [{"name": "topic", "type": "string", "label": "Topic", "max_length": 50}]
BODY = "Write about {{ topic }}."  # "Write about aaaa." is 17 characters: 5 tokens estimated


def make_run_template(workspace: Workspace, *, author: User | None = None, **version: Any) -> Template:
    template = Template.objects.create(
        slug=f"t-{workspace.slug}", name="T", owner=author, visibility=Visibility.PUBLIC, workspace=workspace
    )
    template.create_version(body=BODY, parameters=TOPIC, author=None, max_tokens=10, **version)
    return template


def most(template: Template, topic: str = "aaaa") -> int:
    """What a run of ``topic`` reserves: the prompt's estimate plus max_tokens."""
    return services.estimated_prompt_tokens(f"Write about {topic}.") + template.published_version.max_tokens


@pytest.fixture
def team(owner: User) -> Workspace:
    return create_team_workspace(owner, "Team")


@pytest.fixture
def template(team: Workspace, owner: User) -> Template:
    return make_run_template(team, author=owner)


def run(template: Template, user: User, topic: str = "aaaa") -> Job:
    return submit_generation(template.published_version, {"topic": topic}, owner=user)


def finish(job: Job, input_tokens: int, output_tokens: int, cost: Decimal | None = None) -> None:
    attempt = job.claim("task")
    assert attempt is not None
    assert job.mark_succeeded(
        attempt, output="done", input_tokens=input_tokens, output_tokens=output_tokens, cost=cost
    )


def period_of(budget: Budget) -> Period:
    return Period.objects.get(budget=budget, month=month_of())


def test_a_run_reserves_its_most_and_settles_to_what_it_spent(template: Template, owner: User, team) -> None:
    budget = Budget.objects.create(workspace=team, token_limit=1000)
    job = run(template, owner)
    period = period_of(budget)
    assert (period.reserved_tokens, period.spent_tokens) == (most(template), 0)
    finish(job, 4, 6)
    period.refresh_from_db()
    assert (period.reserved_tokens, period.spent_tokens) == (0, 10)
    # Settled once: a second settlement (a retried task, a sweep) changes nothing.
    assert not services.settle(job.pk, provider="offline", model="offline-echo", input_tokens=4,
                               output_tokens=6, cost=None)  # fmt: skip
    period.refresh_from_db()
    assert (period.reserved_tokens, period.spent_tokens) == (0, 10)


def test_at_the_hard_limit_a_run_is_refused_before_any_job_exists(template, owner, team) -> None:
    Budget.objects.create(workspace=team, token_limit=most(template) * 2)
    run(template, owner, "aaaa")
    run(template, owner, "bbbb")
    with pytest.raises(SubmissionError) as refused:
        run(template, owner, "cccc")
    assert refused.value.code == "budget_exhausted"
    message = str(refused.value)
    assert f"{most(template) * 2:,} of {most(template) * 2:,} tokens" in message
    reset = resets_at(month_of())
    assert f"resets on 1 {reset:%B} {reset.year} at 00:00 UTC" in message
    assert Job.objects.count() == 2


def test_a_limit_past_two_billion_tokens_is_compared_as_a_big_integer(template, owner, team) -> None:
    # A limit bound as a 4-byte integer wraps around, and every run would be refused.
    Budget.objects.create(workspace=team, token_limit=10**12, cost_limit=Decimal("999999"))
    run(template, owner)


def test_a_members_own_budget_limits_only_them(template, owner, other_user, team) -> None:
    Membership.objects.create(workspace=team, user=other_user, role=Role.MEMBER)
    Budget.objects.create(workspace=team, member=other_user, token_limit=most(template))
    run(template, other_user, "aaaa")
    with pytest.raises(SubmissionError) as refused:
        run(template, other_user, "bbbb")
    assert "Your budget in this workspace" in str(refused.value)
    run(template, owner, "bbbb")  # the owner has no budget of their own, the workspace none


def test_a_cancelled_job_releases_its_reservation_and_a_failed_one_counts_its_tokens(
    template, owner, team
) -> None:
    budget = Budget.objects.create(workspace=team, token_limit=1000)
    cancelled = run(template, owner, "aaaa")
    assert cancelled.cancel()
    failed = run(template, owner, "bbbb")
    attempt = failed.claim("task")
    assert failed.mark_failed(attempt, code="provider_error", message="", input_tokens=3, output_tokens=2)
    period = period_of(budget)
    assert (period.reserved_tokens, period.spent_tokens) == (0, 5)
    assert Reservation.objects.filter(settled_at__isnull=True).count() == 0


def test_a_cancelled_calls_partial_usage_is_counted_once(template, owner, team) -> None:
    budget = Budget.objects.create(workspace=team, token_limit=1000)
    job = run(template, owner)
    attempt = job.claim("task")
    assert job.cancel()
    for _report in range(2):  # reported twice: counted once
        assert job.record_partial_usage(attempt, output="par", input_tokens=5, output_tokens=1, cost=None)
    period = period_of(budget)
    assert (period.reserved_tokens, period.spent_tokens) == (0, 6)


def test_answers_from_the_cache_and_followers_cost_nothing(template, owner, team) -> None:
    budget = Budget.objects.create(workspace=team, token_limit=most(template))
    leader = run(template, owner)
    follower = run(template, owner)  # the same inputs while the leader runs: it follows
    assert follower.leader_id == leader.pk
    finish(leader, 3, 3)
    cached = run(template, owner)
    assert cached.cached_from_id == leader.pk and cached.status == JobStatus.SUCCEEDED
    period = period_of(budget)
    assert (period.reserved_tokens, period.spent_tokens) == (0, 6)
    assert Reservation.objects.count() == 1


def test_a_new_month_has_a_period_of_its_own(template, owner, team) -> None:
    budget = Budget.objects.create(workspace=team, token_limit=30)
    january = datetime(2027, 1, 31, 23, 59, tzinfo=UTC)
    february = datetime(2027, 2, 1, 0, 0, tzinfo=UTC)
    kwargs = {"workspace_id": team.pk, "user_id": owner.pk, "provider": "offline", "model": "offline-echo"}
    import uuid

    services.reserve(uuid.uuid4(), prompt_tokens=5, max_tokens=20, now=january, **kwargs)
    # A refusal rolls back the block it is called in (reserve makes no savepoint of its own).
    with pytest.raises(services.BudgetRefused) as refused, transaction.atomic():
        services.reserve(uuid.uuid4(), prompt_tokens=5, max_tokens=20, now=january, **kwargs)
    assert refused.value.details["resets_at"] == "2027-02-01T00:00:00Z"
    services.reserve(uuid.uuid4(), prompt_tokens=5, max_tokens=20, now=february, **kwargs)
    months = dict(Period.objects.filter(budget=budget).values_list("month", "reserved_tokens"))
    assert months == {january.date().replace(day=1): 25, february.date(): 25}
    assert services.standing(team.pk, owner.pk, now=february).tightest.remaining == 5
    assert month_of(datetime(2027, 3, 1, 1, 0, tzinfo=UTC).astimezone()) == datetime(2027, 3, 1).date()


def test_an_unpriced_model_is_refused_under_a_cost_budget_unless_allowed(team, owner, fake_llm) -> None:
    template = make_run_template(team, provider="anthropic", model="claude-unpriced")
    budget = Budget.objects.create(workspace=team, cost_limit=Decimal("5"))
    with pytest.raises(SubmissionError) as refused:
        run(template, owner)
    assert refused.value.code == "budget_unpriced_model"
    budget.allow_unpriced_models = True
    budget.save()
    run(template, owner)
    # Priced: its most at the model's price is reserved.
    ModelPrice.objects.create(
        provider="anthropic",
        model="claude-unpriced",
        input_per_million=100_000,
        output_per_million=100_000,
    )
    budget.allow_unpriced_models = False
    budget.save()
    run(template, owner, "bbbb")
    assert period_of(budget).reserved_cost == Decimal(most(template, "bbbb")) / 10


def test_a_token_budget_alone_lets_an_unpriced_model_run(team, owner, fake_llm) -> None:
    template = make_run_template(team, provider="anthropic", model="claude-unpriced")
    Budget.objects.create(workspace=team, token_limit=1000)
    run(template, owner)


def _api(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_api_refuses_with_402_in_the_envelope_and_says_what_is_left(template, owner, team) -> None:
    Budget.objects.create(workspace=team, token_limit=most(template) * 2, soft_percent=50)
    client = _api(owner)
    url = f"/api/v1/templates/{template.slug}/generate"
    first = client.post(url, {"inputs": {"topic": "aaaa"}}, content_type="application/json")
    assert first.status_code == 202
    assert first["X-Budget-Remaining"] == f"{most(template)} tokens"
    assert first["X-Budget-Warning"].startswith("50% of the workspace token budget used; resets ")
    client.post(url, {"inputs": {"topic": "bbbb"}}, content_type="application/json")
    refused = client.post(url, {"inputs": {"topic": "cccc"}}, content_type="application/json")
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "budget_exhausted"
    assert error["details"]["unit"] == "tokens" and error["details"]["limit"] == str(most(template) * 2)
    assert error["details"]["resets_at"].endswith("T00:00:00Z")
    assert refused["X-Budget-Remaining"] == "0 tokens"


def test_no_budget_no_header(template, owner) -> None:
    response = _api(owner).post(
        f"/api/v1/templates/{template.slug}/generate",
        {"inputs": {"topic": "aaaa"}},
        content_type="application/json",
    )
    assert response.status_code == 202 and "X-Budget-Remaining" not in response


def test_an_outsider_running_a_public_template_is_not_shown_the_workspaces_budget(
    template, other_user, team
) -> None:
    Budget.objects.create(workspace=team, token_limit=most(template) * 4)
    client = _api(other_user)
    response = client.post(
        f"/api/v1/templates/{template.slug}/generate",
        {"inputs": {"topic": "aaaa"}},
        content_type="application/json",
    )
    assert response.status_code == 202 and "X-Budget-Remaining" not in response
    assert 'id="budget-remaining"' not in client.get(template.get_absolute_url()).content.decode()
    assert Period.objects.get(budget__workspace=team).reserved_tokens == most(
        template
    )  # charged all the same


def test_a_shipped_template_is_charged_to_the_runners_personal_workspace(owner) -> None:
    template = Template.objects.create(slug="shipped", name="Shipped", visibility=Visibility.PUBLIC)
    template.create_version(body=BODY, parameters=TOPIC, max_tokens=10)
    personal = Workspace.objects.get(personal_owner=owner)
    Budget.objects.create(workspace=personal, token_limit=most(template))
    run(template, owner)
    with pytest.raises(SubmissionError):
        run(template, owner, "bbbb")
    page = _api(owner).get(template.get_absolute_url()).content.decode()
    assert "Budget left this month: 0 tokens" in page


def test_the_form_page_shows_the_balance_and_warns_at_the_soft_threshold(template, owner, team) -> None:
    Budget.objects.create(workspace=team, cost_limit=Decimal("10"), token_limit=most(template) * 4)
    client = _api(owner)
    page = client.get(template.get_absolute_url()).content.decode()
    assert f"Budget left this month: {most(template) * 4:,} tokens" in page
    assert 'id="budget-warning"' not in page
    for topic in ("aaaa", "bbbb", "cccc"):
        run(template, owner, topic)
    page = client.get(template.get_absolute_url()).content.decode()
    assert f"Budget left this month: {most(template):,} tokens" in page
    assert 'role="status" id="budget-warning">75% of a monthly budget' not in page  # 75% < 80%
    run(template, owner, "dddd")
    refused = client.post(template.get_absolute_url(), {"topic": "eeee"})
    html = refused.content.decode()
    assert 'class="error-summary"' in html and "budget for the month is used up" in html
    assert 'value="eeee"' in html  # the form kept
    assert 'id="budget-warning">100% of a monthly budget is used' in html


def test_the_admins_get_one_email_when_the_soft_threshold_is_crossed(
    template, owner, other_user, team
) -> None:
    Membership.objects.create(workspace=team, user=other_user, role=Role.ADMIN)
    member = User.objects.create_user("member@example.com", "correct horse battery")
    Membership.objects.create(workspace=team, user=member, role=Role.MEMBER)
    budget = Budget.objects.create(workspace=team, token_limit=most(template) * 4, soft_percent=50)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            "django.db.transaction.on_commit", lambda callback, using=None, robust=False: callback()
        )
        for topic in ("aaaa", "bbbb", "cccc", "dddd"):
            run(template, owner, topic)
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == sorted([owner.email, other_user.email])
    assert "50%" in mail.outbox[0].subject
    assert period_of(budget).warned_at is not None


def test_the_budgets_page_and_api_are_for_admins(template, owner, other_user, team) -> None:
    stranger = User.objects.create_user("stranger@example.com", "correct horse battery")
    Membership.objects.create(workspace=team, user=other_user, role=Role.EDITOR)
    page, api = f"/workspaces/{team.slug}/budgets/", f"/api/v1/workspaces/{team.slug}/budgets"
    assert _api(stranger).get(page).status_code == 404
    assert _api(stranger).get(api).status_code == 404
    assert _api(other_user).get(page).status_code == 403
    assert _api(other_user).get(api).status_code == 403
    assert Client().get(page).status_code == 302
    assert _api(owner).get(page).status_code == 200
    body = {
        "workspace": {
            "token_limit": 500,
            "cost_limit": "2.50",
            "soft_percent": 70,
            "allow_unpriced_models": True,
        },
        "members": [{"member": other_user.email, "token_limit": 100, "cost_limit": None, "soft_percent": 80}],
    }
    response = _api(owner).put(api, body, content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["workspace"]["token_limit"] == 500 and data["workspace"]["allow_unpriced_models"] is True
    assert data["members"] == [
        {"member": other_user.email, "token_limit": 100, "cost_limit": None, "soft_percent": 80,
         "used_tokens": 0, "used_cost": "0"}
    ]  # fmt: skip
    bad = _api(owner).put(
        api, {**body, "members": [{"member": "stranger@example.com"}]}, content_type="application/json"
    )
    assert bad.status_code == 400 and "members" in bad.json()["error"]["details"]
    assert _api(owner).put(api, {**body, "members": []}, content_type="application/json").status_code == 200
    assert not Budget.objects.filter(member=other_user).exists()


def test_the_budgets_page_saves_and_refuses_bad_input_naming_the_field(owner, other_user, team) -> None:
    Membership.objects.create(workspace=team, user=other_user, role=Role.MEMBER)
    client = _api(owner)
    page = f"/workspaces/{team.slug}/budgets/"
    response = client.post(
        page, {"which": "workspace", "workspace-token_limit": "-3", "workspace-soft_percent": "80"}
    )
    assert response.status_code == 200
    assert (
        "Token limit per month: Ensure this value is greater than or equal to 0." in response.content.decode()
    )
    response = client.post(
        page, {"which": "workspace", "workspace-cost_limit": "12.5", "workspace-soft_percent": "90"}
    )
    assert response.status_code == 302
    budget = Budget.objects.get(workspace=team, member__isnull=True)
    assert budget.cost_limit == Decimal("12.5") and budget.soft_percent == 90
    assert 'value="12.5"' in client.get(page).content.decode()  # not 12.500000
    response = client.post(
        page, {"which": "member", "member-member_choice": other_user.pk, "member-token_limit": "40",
               "member-soft_percent": "80"}
    )  # fmt: skip
    assert response.status_code == 302
    assert Budget.objects.get(member=other_user).token_limit == 40


@pytest.mark.django_db(transaction=True)
def test_a_workflow_reserves_per_model_call_and_a_refused_step_fails_the_run(llm, worker) -> None:
    from jobs.models import JobStep

    from .conftest import wait_until

    person = User.objects.create_user("flow-budget@example.com", "correct horse battery")
    template = Template.objects.create(slug="flow-budget", name="Flow", visibility=Visibility.PUBLIC)
    template.create_version(
        body="",
        parameters=TOPIC,
        provider="anthropic",
        model="claude-flow-budget",
        steps=[
            {"name": "first", "body": "FIRST about {{ topic }}."},
            {"name": "second", "needs": ["first"], "body": "SECOND {{ steps.first.output }}"},
        ],
    )
    # A shipped template (no workspace): charged to the runner's personal workspace. Room for
    # the first call's most; the second, after it, no longer fits.
    first_most = services.estimated_prompt_tokens("FIRST about tea.") + template.published_version.max_tokens
    budget = Budget.objects.create(
        workspace=Workspace.objects.get(personal_owner=person), token_limit=first_most + 2
    )
    run = submit_generation(template.published_version, {"topic": "tea"}, owner=person)
    assert not Reservation.objects.filter(job_id=run.pk).exists()  # the run itself calls no model
    run = wait_until(lambda: Job.objects.filter(pk=run.pk, status=JobStatus.FAILED).first(), timeout=60)
    second = JobStep.objects.get(run=run, name="second")
    assert second.error_code == "budget_exhausted" and second.job_id is None
    assert [len(llm.calls_containing(word)) for word in ("FIRST", "SECOND")] == [1, 0]
    period = Period.objects.get(budget=budget)
    first = Job.objects.get(part_of=run)
    assert (period.reserved_tokens, period.spent_tokens) == (0, first.total_tokens)


def test_every_budget_change_is_in_the_audit_log(owner, other_user, team) -> None:
    from audit.models import Action, AuditEntry

    Membership.objects.create(workspace=team, user=other_user, role=Role.MEMBER)
    page, api = f"/workspaces/{team.slug}/budgets/", f"/api/v1/workspaces/{team.slug}/budgets"
    client = _api(owner)
    client.post(page, {"which": "workspace", "workspace-cost_limit": "12.5", "workspace-soft_percent": "90"})
    client.post(page, {"which": "workspace", "workspace-cost_limit": "12.5", "workspace-soft_percent": "90"})
    body = {
        "workspace": {
            "token_limit": None,
            "cost_limit": "20.00",
            "soft_percent": 90,
            "allow_unpriced_models": False,
        },
        "members": [{"member": other_user.email, "token_limit": 100, "cost_limit": None, "soft_percent": 80}],
    }
    assert client.put(api, body, content_type="application/json").status_code == 200
    assert client.put(api, {**body, "members": []}, content_type="application/json").status_code == 200
    entries = AuditEntry.objects.filter(action=Action.BUDGET_CHANGED).order_by("pk")
    details = [entry.details for entry in entries]
    assert all(entry.actor_id == owner.pk and entry.workspace_id == team.pk for entry in entries)
    # The same save twice is one entry: only what changed is recorded.
    assert details[0]["member"] is None and details[0]["changes"]["cost_limit"] == [None, "12.5"]
    assert details[1] == {"member": None, "changes": {"cost_limit": ["12.500000", "20.000000"]}}
    assert details[2]["member"] == other_user.email and details[2]["changes"]["token_limit"] == [None, 100]
    assert details[3] == {"member": other_user.email, "changes": {"removed": True}}
    assert len(details) == 4
