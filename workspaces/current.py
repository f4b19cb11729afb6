"""The "current workspace": the one a person last chose (its page), kept in their
session. The header's switcher marks it and the editor offers it first."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .models import Role, Workspace

SESSION_KEY = "workspaces:current"


def remember(request: HttpRequest, workspace: Workspace) -> None:
    if request.session.get(SESSION_KEY) != workspace.pk:
        request.session[SESSION_KEY] = workspace.pk


def current_id(request: HttpRequest) -> int | None:
    """The chosen workspace's id as stored (not checked: a caller checks the role it needs)."""
    value = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    return value if isinstance(value, int) else None


def forget(request: HttpRequest, workspace_id: int) -> None:
    if workspace_id is not None and request.session.get(SESSION_KEY) == workspace_id:
        del request.session[SESSION_KEY]


def default_for(user: Any, current: int | None, role: Role) -> Workspace:
    """The workspace to offer ``user`` first for something needing ``role``: the current
    one when they hold that role there, else their personal one."""
    if current is not None:
        chosen = Workspace.objects.where(user, role).filter(pk=current).first()
        if chosen is not None:
            return chosen
    return Workspace.objects.personal_for(user)
