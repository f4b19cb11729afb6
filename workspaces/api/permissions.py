"""Who may use the workspaces API, beyond each action's role (``views.HoldsWorkspaceRole``)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import permissions
from rest_framework.request import Request

from accounts.models import limited_to_templates


class NotLimitedToTemplates(permissions.BasePermission):
    """A personal token limited to some templates reaches those templates and their jobs
    only: not the workspaces, their members or their ownership (a token made to run one
    template must not hand a workspace over). Its limit is read here, on these endpoints
    alone, so other requests pay nothing for it."""

    message = _("This API token is limited to some templates: it can't use the workspaces.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return not limited_to_templates(request.auth)
