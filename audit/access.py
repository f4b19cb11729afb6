"""Who reads a workspace's log: its admins and its owner (a personal workspace's owner
reads their own). Anyone else with no role there is told nothing of it (404); a member
whose role is too low knows the workspace exists (403)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.models import limited_to_templates

from .models import AuditEntry


def workspace_with_readable_log(user: Any, slug: str, credential: Any = None) -> Any:
    """The workspace, for ``user`` (and the API's ``credential``: a personal token limited
    to another workspace finds none; one limited to some templates reads no log)."""
    # Reached through the entry's relation: audit imports nothing from workspaces.
    workspace_model = AuditEntry._meta.get_field("workspace").related_model
    workspaces = workspace_model.objects.reachable_with(credential)  # type: ignore[union-attr]
    workspace = workspaces.filter(slug=slug).first()
    role = workspace.role_of(user) if workspace is not None else None
    if role is None:
        raise Http404
    if limited_to_templates(credential):
        raise PermissionDenied
    if not role.at_least(type(role).ADMIN):
        raise PermissionDenied
    return workspace
