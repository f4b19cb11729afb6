"""Whose usage a person may see: the one place the page and the API ask."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef

from jobs.rollups import UsageDayRollup, UsageRollup
from workspaces.models import Membership, Role, Workspace

from .figures import Rollups


def visible_rollups(user: Any) -> Rollups:
    """Staff see everyone's figures (visitors' included); anyone else their own and, in
    the workspaces where they are an admin (or the owner), the figures of its members'
    runs of its templates. Not the runs of people outside the workspace (a visitor's run
    of a public template), nor a member's runs elsewhere: only what the workspace spent.
    Memberships are read by the query itself, so a change of role counts at once."""
    if not user.is_authenticated:
        return Rollups(UsageRollup.objects.none(), UsageDayRollup.objects.none())
    if user.is_staff:
        return Rollups(UsageRollup.objects.all(), UsageDayRollup.objects.all())
    run_by_a_member = Exists(
        Membership.objects.filter(user=OuterRef("owner"), workspace=OuterRef("template__workspace"))
    )
    administered = Membership.objects.workspaces_of(user, Role.ADMIN)

    def seen(rows: Any) -> Any:
        # A union, not an OR across the template's join (which scans the whole table):
        # the owner's index, plus the administered templates' rows (as Job.objects.visible_to).
        own = rows.filter(owner=user).values("pk")
        members = rows.filter(template__workspace__in=administered).filter(run_by_a_member).values("pk")
        return rows.filter(pk__in=own.union(members, all=True))

    return Rollups(seen(UsageRollup.objects.all()), seen(UsageDayRollup.objects.all()))


def sees_everyone(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def sees_members(user: Any) -> bool:
    """Do ``visible_rollups`` hold others' runs for them: are they an admin of a team workspace?"""
    return bool(
        user.is_authenticated and Workspace.objects.where(user, Role.ADMIN).filter(personal=False).exists()
    )
