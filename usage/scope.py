"""Whose usage a person may see: the one place the page and the API ask."""

from __future__ import annotations

from typing import Any

from jobs.rollups import UsageDayRollup, UsageRollup

from .figures import Rollups


def visible_rollups(user: Any) -> Rollups:
    """Staff see everyone's figures (visitors' included); anyone else only their own.

    When workspaces exist (issue #14), a workspace's admins will also see its members'
    figures: that is a filter to add here, and the page and the API follow.
    """
    if not user.is_authenticated:
        return Rollups(UsageRollup.objects.none(), UsageDayRollup.objects.none())
    if user.is_staff:
        return Rollups(UsageRollup.objects.all(), UsageDayRollup.objects.all())
    return Rollups(UsageRollup.objects.filter(owner=user), UsageDayRollup.objects.filter(owner=user))


def sees_everyone(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_staff)
