from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.http import HttpRequest

from .current import current_id
from .models import Workspace


@dataclass
class Switcher:
    """The header's workspace switcher: read on first use, in one query."""

    user: Any
    current: int | None

    @cached_property
    def workspaces(self) -> list[Workspace]:
        return list(Workspace.objects.of(self.user).only("pk", "name", "slug", "personal"))

    @cached_property
    def current_workspace(self) -> Workspace | None:
        """The chosen one, or (none chosen, or no longer a member) the personal one."""
        chosen = next((w for w in self.workspaces if w.pk == self.current), None)
        return chosen or next((w for w in self.workspaces if w.personal), None)


def workspace_switcher(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"workspace_switcher": Switcher(user, current_id(request))}
