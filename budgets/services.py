"""Reserving a submission's most on its budgets, and settling it when the job ends.

The race: many submissions of one workspace arrive at once, each allowed only if what
the month has spent and reserved, plus its own most, stays within the limit. Each
reservation is one conditional UPDATE of the month's period row::

    UPDATE budgets_period SET reserved_tokens = reserved_tokens + :n
     WHERE id = :period AND reserved_tokens <= :limit - :n - spent_tokens

PostgreSQL takes the row's lock for the UPDATE; a second submission's UPDATE waits for
the first one's transaction, then evaluates its WHERE again on the row as committed
(READ COMMITTED re-checks an updated row), so no two submissions can both see the same
room. The row count says whether it fit. That is the whole lock: no SELECT … FOR UPDATE
round trip, no lock held between two statements of ours. The rows of one submission's
budgets (the workspace's and the member's) are updated in the order of their ids, and
so are a settlement's, so two transactions never wait on each other in a cycle.

The reservation is made in the transaction that creates the job (``jobs.services``), so
a refusal leaves no job and spends nothing, and a job that exists has its reservation.
It is released when the job ends, whatever the end (``settle``): a ``Reservation`` row
per period, whose ``settled_at`` is set by a conditional UPDATE, so that of a retry, a
sweep and a cancel racing one another only one settles.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.mail import send_mail
from django.db import models, transaction
from django.db.models import BigIntegerField, DecimalField, F, Q, Value
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from audit.models import Action
from audit.services import record
from providers.models import price_of
from workspaces.models import Membership, Role, Workspace, roles_of

from .models import COST_PLACES, Budget, Period, Reservation, month_of, resets_at

logger = logging.getLogger(__name__)

# Prompt tokens are estimated from the prompt's length, as the batch estimate does: the
# project counts no tokens itself (the provider's count arrives with the answer).
CHARACTERS_PER_TOKEN = 4

EXHAUSTED = "budget_exhausted"
UNPRICED = "budget_unpriced_model"
CODES = frozenset({EXHAUSTED, UNPRICED})


class BudgetRefused(Exception):
    """A submission its budgets do not allow; the message is for the user, ``details``
    for the API (what was used, the limit, when it resets)."""

    def __init__(self, message: str, *, code: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or {}


def _tokens(value: int) -> Value:
    # Typed: a bare Value(int) is bound as a 4-byte integer (psycopg's Int4 with server-side
    # binding), which wraps silently past 2**31 and would refuse every run of a large limit.
    return Value(value, output_field=BigIntegerField())


def _cost(value: Decimal) -> Value:
    return Value(value, output_field=DecimalField(max_digits=14, decimal_places=6))


def estimated_prompt_tokens(*texts: str) -> int:
    return math.ceil(sum(len(text) for text in texts) / CHARACTERS_PER_TOKEN)


def budgets_for(workspace_id: int | None, user_id: int | None) -> list[Budget]:
    """The budgets a run of ``user_id`` spends from, in one query: the workspace's own and
    the member's within it, those that exist.

    The workspace is the template's; a shipped template's (``workspace_id`` None) runs are
    charged to the signed-in runner's personal workspace, and a visitor's to none."""
    if workspace_id is not None:
        where = Q(workspace_id=workspace_id)
    elif user_id is not None:
        where = Q(workspace__personal_owner_id=user_id)
    else:
        return []
    whose = Q(member__isnull=True)
    if user_id is not None:
        whose |= Q(member_id=user_id)
    return list(Budget.objects.filter(where, whose))


def reserve(
    job_id: UUID,
    *,
    workspace_id: int | None,
    user_id: int | None,
    provider: str,
    model: str,
    prompt_tokens: int,
    max_tokens: int,
    now: datetime | None = None,
) -> list[Reservation]:
    """Hold the run's most on every budget that applies (``budgets_for``: ``workspace_id``
    is the template's), or raise BudgetRefused.

    Call it inside the atomic block that creates the job, and let a refusal leave that
    block: it makes no savepoint of its own, so the block's rollback undoes whatever it had
    reserved, and the job with it."""
    budgets = budgets_for(workspace_id, user_id)
    limiting = [budget for budget in budgets if budget.limits_anything]
    if not limiting:
        return []
    tokens = prompt_tokens + max_tokens
    # Priced only under a cost limit: without one the reservation's cost is never read (what
    # the run spent is priced when it is settled, for the month's figures).
    cost = None
    if any(budget.cost_limit is not None for budget in limiting):
        cost = price_of(provider, model, prompt_tokens, max_tokens)
        own = next((budget for budget in budgets if budget.member_id is None), None)
        if cost is None and (own is None or not own.allow_unpriced_models):
            raise BudgetRefused(
                _(
                    "This workspace has a cost budget, and “%(model)s” has no price, so its cost could "
                    "not be counted: it can't run here. A workspace admin can allow models without a "
                    "price on the budgets page."
                )
                % {"model": f"{provider}/{model}"},
                code=UNPRICED,
                details={"model": f"{provider}/{model}"},
            )
    month = month_of(now)
    # No savepoint of its own (two round trips): a refusal raised here rolls back the
    # enclosing atomic block, the caller's job with it (or this transaction, called alone).
    with transaction.atomic(savepoint=False):
        periods = {period.budget_id: period for period in _periods(limiting, month)}
        if len(periods) < len(limiting):
            # The month's rows are made by its first submission; a racing twin's insert is ignored.
            Period.objects.bulk_create(
                [Period(budget=budget, month=month) for budget in limiting if budget.pk not in periods],
                ignore_conflicts=True,
            )
            periods = {period.budget_id: period for period in _periods(limiting, month)}
        reservations = []
        for budget in sorted(limiting, key=lambda budget: periods[budget.pk].pk):
            period = periods[budget.pk]
            rows = Period.objects.filter(pk=period.pk)
            if budget.token_limit is not None:
                rows = rows.filter(
                    reserved_tokens__lte=_tokens(budget.token_limit - tokens) - F("spent_tokens")
                )
            if budget.cost_limit is not None and cost is not None:
                rows = rows.filter(reserved_cost__lte=_cost(budget.cost_limit - cost) - F("spent_cost"))
            held = rows.update(
                reserved_tokens=F("reserved_tokens") + tokens, reserved_cost=F("reserved_cost") + (cost or 0)
            )
            if not held:
                raise _exhausted(budget, Period.objects.get(pk=period.pk), tokens, cost)
            reservations.append(
                Reservation(job_id=job_id, period_id=period.pk, tokens=tokens, cost=cost or Decimal("0"))
            )
            if period.warned_at is None and _reaches_threshold(budget, period, tokens, cost or Decimal("0")):
                _warn_once(budget, period)
        Reservation.objects.bulk_create(reservations)
    return reservations


def _periods(budgets: list[Budget], month: Any) -> models.QuerySet[Period]:
    return Period.objects.filter(budget__in=budgets, month=month).only(
        "pk", "budget_id", "reserved_tokens", "spent_tokens", "reserved_cost", "spent_cost", "warned_at"
    )


def _reaches_threshold(budget: Budget, period: Period, tokens: int, cost: Decimal) -> bool:
    """Whether the period, as read before this reservation plus this reservation, reaches
    the soft threshold: the cheap test that spares most submissions the warning's UPDATE.

    The read may be a moment old (others reserving meanwhile): then the crossing is found
    by the next submission, one run late, never twice (``_warn_once`` decides that)."""
    if (
        budget.token_limit is not None
        and (period.used_tokens + tokens) * 100 >= budget.token_limit * budget.soft_percent
    ):
        return True
    return (
        budget.cost_limit is not None
        and (period.used_cost + cost) * 100 >= budget.cost_limit * budget.soft_percent
    )


def _exhausted(budget: Budget, period: Period, tokens: int, cost: Decimal | None) -> BudgetRefused:
    """The refusal of a run that did not fit, saying what was used, the limit and the reset."""
    resets = resets_at(period.month)
    when = formats.date_format(resets.date(), "DATE_FORMAT")
    by_tokens = budget.token_limit is not None and period.used_tokens + tokens > budget.token_limit
    if by_tokens:
        used, limit, unit = period.used_tokens, budget.token_limit, "tokens"
        used_text = _("%(used)s of %(limit)s tokens") % {
            "used": formats.number_format(used, force_grouping=True),
            "limit": formats.number_format(limit, force_grouping=True),
        }
    else:
        used, limit, unit = period.used_cost, budget.cost_limit, "cost"
        used_text = _("US$ %(used)s of US$ %(limit)s") % {
            "used": formats.number_format(used.quantize(Decimal("0.01")), 2, force_grouping=True),
            "limit": formats.number_format(limit, 2, force_grouping=True),
        }
    values = {"used": used_text, "date": when}
    if budget.member_id is None:
        message = (
            _(
                "This workspace's budget for the month is used up: %(used)s spent or held by runs in "
                "progress, and this run could take more than is left. Nothing was run. The budget resets on "
                "%(date)s at 00:00 UTC."
            )
            % values
        )
    else:
        message = (
            _(
                "Your budget in this workspace for the month is used up: %(used)s spent or held by runs in "
                "progress, and this run could take more than is left. Nothing was run. The budget resets on "
                "%(date)s at 00:00 UTC."
            )
            % values
        )
    details = {
        "budget": "workspace" if budget.member_id is None else "member",
        "unit": unit,
        "used": str(used),
        "limit": str(limit),
        "resets_at": resets.isoformat().replace("+00:00", "Z"),
    }
    return BudgetRefused(message, code=EXHAUSTED, details=details)


def _warn_once(budget: Budget, period: Period) -> None:
    """E-mail the workspace's admins when a period first reaches its soft threshold: the
    conditional UPDATE of ``warned_at`` lets exactly one submission of the month send it."""
    if Period.objects.filter(pk=period.pk, warned_at__isnull=True).update(warned_at=timezone.now()):
        transaction.on_commit(lambda: _send_warning(budget))


def _send_warning(budget: Budget) -> None:
    admins = Membership.objects.filter(workspace_id=budget.workspace_id, role__in=[Role.ADMIN, Role.OWNER])
    recipients = [email for email in admins.values_list("user__email", flat=True) if email]
    if not recipients:
        return
    workspace = Workspace.objects.get(pk=budget.workspace_id)
    whose = str(budget.member) if budget.member_id else _("the whole workspace")
    subject = _("PromptLab: %(workspace)s has used %(percent)d%% of a monthly budget") % {
        # One line: a name's line break can't go in a mail header.
        "workspace": " ".join(workspace.display_name.split()),
        "percent": budget.soft_percent,
    }
    body = _(
        "The monthly budget of %(whose)s in the workspace “%(workspace)s” has reached its warning "
        "threshold (%(percent)d%%). Runs are refused once it is used up; it resets on the 1st of next "
        "month at 00:00 UTC. You can change it on the workspace's budgets page."
    ) % {"whose": whose, "workspace": workspace.display_name, "percent": budget.soft_percent}
    try:
        send_mail(subject, body, None, recipients)
    except Exception:  # a mail server down must not fail the run that crossed the threshold
        logger.exception("could not send the budget warning of budget %s", budget.pk)


def settle(
    job_id: UUID,
    *,
    provider: str,
    model: str,
    input_tokens: int | None,
    output_tokens: int | None,
    cost: Decimal | None,
) -> bool:
    """The job ended: replace its reservations by what it spent, once. False if it had none
    left to settle (none made, or settled already by whoever got here first)."""
    spent_tokens = (input_tokens or 0) + (output_tokens or 0)
    with transaction.atomic(savepoint=False):
        # The fence: the rows are locked, and a second settler (a finish racing a sweep, a
        # retried task) waits here, then finds them settled (PostgreSQL reads a locked row
        # again once it is free) and settles nothing.
        reservations = list(
            Reservation.objects.filter(job_id=job_id, settled_at__isnull=True)
            .select_for_update()
            .order_by("period_id")
        )
        if not reservations:
            return False
        if cost is None:
            # A failed call's tokens have no cost recorded with the job: price them here.
            cost = price_of(provider, model, input_tokens or 0, output_tokens or 0) or Decimal("0")
        Reservation.objects.filter(pk__in=[reservation.pk for reservation in reservations]).update(
            settled_at=timezone.now(), spent_tokens=spent_tokens, spent_cost=cost
        )
        for reservation in reservations:  # in the order of the periods' ids, as reserve locks them
            Period.objects.filter(pk=reservation.period_id).update(
                reserved_tokens=F("reserved_tokens") - reservation.tokens,
                reserved_cost=F("reserved_cost") - reservation.cost,
                spent_tokens=F("spent_tokens") + spent_tokens,
                spent_cost=F("spent_cost") + cost,
            )
    return True


def hand_over(job_id: UUID, to_job_id: UUID) -> int:
    """A cancelled leader's followers go on with a new leader, which makes the same call:
    it takes over the cancelled job's reservations (same inputs, same most)."""
    return Reservation.objects.filter(job_id=job_id, settled_at__isnull=True).update(job_id=to_job_id)


def recount(
    job_id: UUID,
    *,
    provider: str,
    model: str,
    before: tuple[int | None, int | None, Decimal | None],
    after: tuple[int | None, int | None, Decimal | None],
) -> None:
    """A cancelled job's usage arrived after its reservation was released (the worker
    records what the cut-off call spent): add the difference to the month it counted in.

    By difference, so a second report of the same usage adds nothing. Not checked against
    the limit: it was spent already, and it is at most what the job had reserved."""

    def tokens_and_cost(usage: tuple[int | None, int | None, Decimal | None]) -> tuple[int, Decimal]:
        input_tokens, output_tokens, cost = usage
        if cost is None:
            cost = price_of(provider, model, input_tokens or 0, output_tokens or 0) or Decimal("0")
        return (input_tokens or 0) + (output_tokens or 0), cost

    old_tokens, old_cost = tokens_and_cost(before)
    new_tokens, new_cost = tokens_and_cost(after)
    if (old_tokens, old_cost) == (new_tokens, new_cost):
        return
    settled = Reservation.objects.filter(job_id=job_id, settled_at__isnull=False)
    with transaction.atomic():
        periods = sorted(settled.values_list("period_id", flat=True))
        settled.update(spent_tokens=new_tokens, spent_cost=new_cost)
        for period_id in periods:
            Period.objects.filter(pk=period_id).update(
                spent_tokens=F("spent_tokens") + (new_tokens - old_tokens),
                spent_cost=F("spent_cost") + (new_cost - old_cost),
            )


@dataclass(frozen=True)
class Line:
    """One limit of one budget this month: what is used (spent and reserved) of it."""

    budget: Budget
    unit: str  # "tokens" or "cost"
    used: Decimal
    limit: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(self.limit - self.used, Decimal("0"))

    @property
    def fraction_left(self) -> Decimal:
        return self.remaining / self.limit if self.limit else Decimal("0")

    @property
    def warning(self) -> bool:
        return self.used * 100 >= self.limit * self.budget.soft_percent

    @property
    def percent_used(self) -> int:
        return min(100, math.floor(self.used * 100 / self.limit)) if self.limit else 100

    @property
    def remaining_text(self) -> str:
        """For people: "1,200 tokens" or "US$ 0.42"."""
        if self.unit == "tokens":
            return _("%(count)s tokens") % {
                "count": formats.number_format(self.remaining, force_grouping=True)
            }
        return _("US$ %(amount)s") % {"amount": formats.number_format(self.remaining, 2, force_grouping=True)}

    @property
    def header_value(self) -> str:
        """For scripts (X-Budget-Remaining): "1200 tokens" or "0.420000 USD"."""
        if self.unit == "tokens":
            return f"{int(self.remaining)} tokens"
        return f"{self.remaining.quantize(COST_PLACES)} USD"


@dataclass(frozen=True)
class Standing:
    """This month's budgets of a workspace and one member: every limit, and the tightest."""

    lines: list[Line]
    resets_at: datetime

    @property
    def tightest(self) -> Line:
        """The limit with the smallest share left (ties: the member's, then tokens)."""
        return min(self.lines, key=lambda line: line.fraction_left)

    @property
    def warning(self) -> bool:
        return any(line.warning for line in self.lines)

    @property
    def warning_lines(self) -> list[Line]:
        return [line for line in self.lines if line.warning]


def standing_shown_to(user: Any, workspace_id: int | None, *, member: bool | None = None) -> Standing | None:
    """The standing a person sees beside a run (the form page's line, the API's headers):
    only a member's of the workspace (its figures are the workspace's business, not an
    outsider's who runs a public template), or anyone's own on a shipped template (their
    personal workspace's). ``member``: whether they are one, when the caller knows;
    else the roles are read once per request (``roles_of``)."""
    if user is None or not user.is_authenticated:
        return None
    if member is None:
        member = workspace_id is None or workspace_id in roles_of(user)
    if not member:
        return None
    return standing(workspace_id, user.pk)


def standing(workspace_id: int | None, user_id: int | None, now: datetime | None = None) -> Standing | None:
    """The month's budgets that apply to ``user_id`` running a template of the workspace
    (None: a shipped one, as ``budgets_for``); None if none limits."""
    budgets = [budget for budget in budgets_for(workspace_id, user_id) if budget.limits_anything]
    if not budgets:
        return None
    month = month_of(now)
    periods = {period.budget_id: period for period in Period.objects.filter(budget__in=budgets, month=month)}
    lines = []
    for budget in sorted(budgets, key=lambda budget: budget.member_id is None):  # the member's first
        period = periods.get(budget.pk) or Period(budget=budget, month=month)
        if budget.token_limit is not None:
            lines.append(Line(budget, "tokens", Decimal(period.used_tokens), Decimal(budget.token_limit)))
        if budget.cost_limit is not None:
            lines.append(Line(budget, "cost", period.used_cost, budget.cost_limit))
    return Standing(lines=lines, resets_at=resets_at(month))


# --- Changing budgets (the page and the API): recorded in the audit log -----------------

_BUDGET_FIELDS = ("token_limit", "cost_limit", "soft_percent", "allow_unpriced_models")


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@transaction.atomic
def set_budget(workspace: Workspace, actor: Any, member: Any, fields: dict[str, Any]) -> Budget:
    """The workspace's own budget (``member`` None) or a member's, as ``fields`` say; an
    entry in the audit log with what changed, {field: [old, new]}."""
    budget = Budget.objects.select_for_update().filter(workspace=workspace, member=member).first()
    created = budget is None
    budget = budget or Budget(workspace=workspace, member=member)
    changes = {
        name: [None if created else _plain(getattr(budget, name)), _plain(value)]
        for name, value in fields.items()
        if name in _BUDGET_FIELDS and (created or getattr(budget, name) != value)
    }
    for name, value in fields.items():
        setattr(budget, name, value)
    budget.save()
    if changes:
        _record_budget(workspace, actor, member, changes)
    return budget


@transaction.atomic
def remove_budget(workspace: Workspace, actor: Any, member: Any) -> bool:
    removed, _counts = Budget.objects.filter(workspace=workspace, member=member).delete()
    if removed:
        _record_budget(workspace, actor, member, {"removed": True})
    return bool(removed)


def _record_budget(workspace: Workspace, actor: Any, member: Any, changes: dict[str, Any]) -> None:
    whose = member.email if member is not None else ""
    record(
        Action.BUDGET_CHANGED,
        workspace=workspace,
        actor=actor,
        target_type="budget",
        target_text=whose or str(workspace.display_name),
        details={"member": whose or None, "changes": changes},
    )
