"""The changes to a workspace's membership, for the site's pages and the API alike.

Each checks the acting user's role itself (the caller only finds the workspace), and
raises ``WorkspaceError`` with a translated message and a code the API returns."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from audit.models import Action
from audit.services import record

from .models import Membership, Role, Workspace, forget_roles, unique_slug


class WorkspaceError(Exception):
    """A refused change: ``code`` for the API (``permission_denied`` answers 403,
    the others 400 or 409), ``message`` for people."""

    def __init__(self, code: str, message: Any) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message


def require_role(workspace: Workspace, actor: Any, role: Role) -> Role:
    """The role ``actor`` holds in ``workspace``, if at least ``role``; else a refusal."""
    held = workspace.role_of(actor)
    if held is None or not held.at_least(role):
        raise WorkspaceError("permission_denied", _("Your role in this workspace does not allow this."))
    return held


def require_team(workspace: Workspace) -> None:
    """Refuses changes to the membership of a personal workspace."""
    if workspace.personal:
        raise WorkspaceError("personal_workspace", _("A personal workspace has no other members."))


@transaction.atomic
def create_team_workspace(actor: Any, name: str, slug: str = "") -> Workspace:
    """A team workspace with ``actor`` as its owner (the slug from the name when empty)."""
    workspace = Workspace.objects.create(name=name, slug=slug or unique_slug(name))
    record(Action.WORKSPACE_CREATED, workspace=workspace, actor=actor, target=workspace)
    Membership.objects.create(workspace=workspace, user=actor, role=Role.OWNER)
    forget_roles(actor)
    return workspace


# The settings an admin changes, as the settings form and the API name them.
SETTINGS_FIELDS = ("name", "slug", "members_see_all_jobs", "review_required")


@transaction.atomic
def change_settings(workspace: Workspace, actor: Any, **changes: Any) -> Workspace:
    """Admins rename a workspace, change its short name or who sees its jobs (a personal
    workspace's owner too). ``changes``: some of ``SETTINGS_FIELDS``; only those that
    differ are saved and recorded, as {field: [old, new]}."""
    require_role(workspace, actor, Role.ADMIN)
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"Not a workspace setting: {', '.join(sorted(unknown))}.")
    changed = {
        field: [getattr(workspace, field), value]
        for field, value in changes.items()
        if getattr(workspace, field) != value
    }
    if not changed:
        return workspace
    for field, (_old, value) in changed.items():
        setattr(workspace, field, value)
    workspace.full_clean()
    workspace.save(update_fields=list(changed))
    record(
        Action.WORKSPACE_CHANGED,
        workspace=workspace,
        actor=actor,
        target=workspace,
        details={"changes": changed},
    )
    return workspace


@transaction.atomic
def change_role(workspace: Workspace, actor: Any, membership: Membership, role: Role) -> Membership:
    """Admins set any role but owner on anyone but the owner; only the owner makes or
    unmakes admins (``transfer_ownership`` hands the owner's role over)."""
    require_team(workspace)
    held = require_role(workspace, actor, Role.ADMIN)
    if role == Role.OWNER:
        raise WorkspaceError("use_transfer", _("Hand the workspace over to make someone its owner."))
    if membership.role == Role.OWNER:
        raise WorkspaceError("owner_role", _("The owner's role changes only by handing the workspace over."))
    if Role.ADMIN in (role, membership.role) and held != Role.OWNER:
        raise WorkspaceError("permission_denied", _("Only the owner makes or unmakes admins."))
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    record(
        Action.ROLE_CHANGED,
        workspace=workspace,
        actor=actor,
        target=membership.user,
        details={"from": str(previous), "to": str(role)},
    )
    forget_roles(membership.user)
    return membership


@transaction.atomic
def remove_member(workspace: Workspace, actor: Any, membership: Membership) -> None:
    """Admins remove members, editors and (the owner only) admins; nobody removes the owner."""
    require_team(workspace)
    if membership.user_id == getattr(actor, "pk", None):
        leave(workspace, actor)
        return
    held = require_role(workspace, actor, Role.ADMIN)
    if membership.role == Role.OWNER:
        raise WorkspaceError(
            "owner_role", _("The owner cannot be removed; they can hand the workspace over.")
        )
    if membership.role == Role.ADMIN and held != Role.OWNER:
        raise WorkspaceError("permission_denied", _("Only the owner removes an admin."))
    membership.delete()
    record(
        Action.MEMBER_REMOVED,
        workspace=workspace,
        actor=actor,
        target=membership.user,
        details={"role": membership.role},
    )
    forget_roles(membership.user)


@transaction.atomic
def leave(workspace: Workspace, actor: Any) -> None:
    require_team(workspace)
    membership = Membership.objects.filter(workspace=workspace, user=actor).first()
    if membership is None:
        raise WorkspaceError("not_a_member", _("You are not a member of this workspace."))
    if membership.role == Role.OWNER:
        raise WorkspaceError(
            "owner_role", _("The owner cannot leave: hand the workspace over first, or delete it.")
        )
    membership.delete()
    record(
        Action.MEMBER_LEFT, workspace=workspace, actor=actor, target=actor, details={"role": membership.role}
    )
    forget_roles(actor)


@transaction.atomic
def transfer_ownership(workspace: Workspace, actor: Any, new_owner: Membership) -> None:
    """The owner hands the workspace to another member and stays on as an admin."""
    require_team(workspace)
    require_role(workspace, actor, Role.OWNER)
    if new_owner.user_id == actor.pk:
        raise WorkspaceError("owner_role", _("You already own this workspace."))
    # Locked in a fixed order, so two transfers at once can't leave two owners or none.
    rows = list(Membership.objects.select_for_update().filter(workspace=workspace).order_by("pk"))
    current = next(row for row in rows if row.role == Role.OWNER)
    Membership.objects.filter(pk=current.pk).update(role=Role.ADMIN)
    Membership.objects.filter(pk=new_owner.pk).update(role=Role.OWNER)
    record(
        Action.OWNERSHIP_TRANSFERRED,
        workspace=workspace,
        actor=actor,
        target=new_owner.user,
        details={"from": current.user.email, "to": new_owner.user.email},
    )
    forget_roles(actor)
    forget_roles(new_owner.user)


@transaction.atomic
def delete_workspace(workspace: Workspace, actor: Any) -> None:
    """The owner deletes a team workspace once it holds no template (deleted ones too)."""
    require_team(workspace)
    require_role(workspace, actor, Role.OWNER)
    held = workspace.templates.model.all_objects.filter(workspace=workspace).count()
    if held:
        raise WorkspaceError(
            "workspace_not_empty",
            _("The workspace still holds templates: move or delete them (and empty its bin) first."),
        )
    # Recorded first: the deletion leaves the entry (and the log before it) without the
    # workspace, but with its name (the admin shows them).
    record(Action.WORKSPACE_DELETED, workspace=workspace, actor=actor, target=workspace)
    workspace.delete()
    forget_roles(actor)
