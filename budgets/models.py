"""Monthly spending limits of a workspace and of its members.

A *budget* is a workspace's own (``member`` empty) or one member's within it; it may
limit tokens, cost (in the price table's currency, US$), or both. Its spending is kept
per calendar month in UTC, one *period* row each, made on the month's first submission:
a new month starts from nothing, with no job to reset anything.

A submission *reserves* its most (the prompt's estimated tokens plus the run's
``max_tokens``, and their cost at the model's price) on every budget that applies, and
the job's end *settles* each reservation to what the call really spent, exactly once
(``Reservation.settled_at`` is the fence). See ``budgets.services``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

COST_PLACES = Decimal("0.000001")


def month_of(moment: datetime | None = None) -> date:
    """The first day of the UTC calendar month ``moment`` (default: now) falls in: the
    period a submission made then counts in. Tests pass a moment to move the clock."""
    moment = (moment or timezone.now()).astimezone(UTC)
    return moment.date().replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def resets_at(month: date) -> datetime:
    """When the period of ``month`` ends: the 1st of the next month, 00:00 UTC."""
    following = next_month(month)
    return datetime(following.year, following.month, 1, tzinfo=UTC)


class Budget(models.Model):
    """A workspace's monthly limits (``member`` empty), or one member's within it.

    The workspace's own row also holds the workspace's budget settings
    (``allow_unpriced_models``); on a member's row that field is not used.
    """

    workspace = models.ForeignKey(
        "workspaces.Workspace", verbose_name=_("workspace"), on_delete=models.CASCADE, related_name="budgets"
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("member"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budgets",
        help_text=_("Empty: the whole workspace's budget."),
    )
    token_limit = models.PositiveBigIntegerField(
        _("token limit per month"), null=True, blank=True, help_text=_("Empty: no limit on tokens.")
    )
    cost_limit = models.DecimalField(
        _("cost limit per month (US$)"),
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Empty: no limit on cost."),
    )
    soft_percent = models.PositiveSmallIntegerField(
        _("warning threshold (percent)"),
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("A warning is shown, and the workspace's admins get an e-mail, once this much is used."),
    )
    allow_unpriced_models = models.BooleanField(
        _("allow models without a price"),
        default=False,
        help_text=_(
            "Under a cost limit, runs on a model without a price are refused unless this is on (their "
            "cost is then not counted, their tokens are)."
        ),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("budget")
        verbose_name_plural = _("budgets")
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"], condition=Q(member__isnull=True), name="budget_one_per_workspace"
            ),
            models.UniqueConstraint(fields=["workspace", "member"], name="budget_one_per_member"),
        ]

    def __str__(self) -> str:
        return f"{self.workspace} · {self.member or _('workspace')}"

    @property
    def limits_anything(self) -> bool:
        return self.token_limit is not None or self.cost_limit is not None


class Period(models.Model):
    """One budget's spending in one UTC calendar month."""

    budget = models.ForeignKey(
        Budget, verbose_name=_("budget"), on_delete=models.CASCADE, related_name="periods"
    )
    month = models.DateField(_("month"), help_text=_("The month's first day (UTC)."))
    reserved_tokens = models.BigIntegerField(_("reserved tokens"), default=0)
    spent_tokens = models.BigIntegerField(_("spent tokens"), default=0)
    reserved_cost = models.DecimalField(_("reserved cost (US$)"), max_digits=14, decimal_places=6, default=0)
    spent_cost = models.DecimalField(_("spent cost (US$)"), max_digits=14, decimal_places=6, default=0)
    # The soft threshold's e-mail went out for this period (sent once: set by a conditional UPDATE).
    warned_at = models.DateTimeField(_("warning sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("budget period")
        verbose_name_plural = _("budget periods")
        constraints = [models.UniqueConstraint(fields=["budget", "month"], name="budget_period_once")]

    def __str__(self) -> str:
        return f"{self.budget} · {self.month:%Y-%m}"

    @property
    def used_tokens(self) -> int:
        return self.reserved_tokens + self.spent_tokens

    @property
    def used_cost(self) -> Decimal:
        return self.reserved_cost + self.spent_cost


class Reservation(models.Model):
    """What one job holds on one period until it ends (then ``settled_at`` is set, once).

    ``job_id`` is the job's id, not a foreign key: budgets sits below jobs and knows no
    Job; a job's deletion leaves its (settled) reservations as a record of the spending.
    """

    job_id = models.UUIDField(_("job"))
    period = models.ForeignKey(
        Period, verbose_name=_("period"), on_delete=models.CASCADE, related_name="reservations"
    )
    tokens = models.BigIntegerField(_("reserved tokens"))
    cost = models.DecimalField(_("reserved cost (US$)"), max_digits=14, decimal_places=6)
    spent_tokens = models.BigIntegerField(_("spent tokens"), null=True, blank=True)
    spent_cost = models.DecimalField(
        _("spent cost (US$)"), max_digits=14, decimal_places=6, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    settled_at = models.DateTimeField(_("settled"), null=True, blank=True)

    class Meta:
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        constraints = [
            models.UniqueConstraint(fields=["job_id", "period"], name="reservation_once_per_period")
        ]

    def __str__(self) -> str:
        return f"{self.job_id} · {self.period}"
