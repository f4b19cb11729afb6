"""Invitations to a team workspace, for the site's pages and the API alike.

An admin (the owner, for an admin's role) invites an address; the e-mailed link lets
whoever signs in with that address join with the role offered. Nothing here says
whether an address has an account: inviting answers the same, the e-mail is the same,
and the link's page offers both signing in and registering.
"""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from audit.models import Action
from audit.services import record

from .models import (
    INVITABLE_ROLES,
    Invitation,
    InvitationState,
    Membership,
    Role,
    Workspace,
    forget_roles,
)
from .services import WorkspaceError, require_role, require_team

logger = logging.getLogger(__name__)


class InvitationError(WorkspaceError):
    """A refused invitation or answer. ``field`` names the input at fault (the form's
    field, the API's detail), when there is one."""

    def __init__(self, code: str, message: Any, field: str | None = None) -> None:
        super().__init__(code, message)
        self.field = field


# Why a link no longer works, by state: the API's code and the people's sentence.
CLOSED = {
    InvitationState.ACCEPTED: ("invitation_used", _("This invitation has already been accepted.")),
    InvitationState.DECLINED: ("invitation_declined", _("This invitation was declined.")),
    InvitationState.REVOKED: ("invitation_revoked", _("This invitation was withdrawn by the workspace.")),
    InvitationState.EXPIRED: ("invitation_expired", _("This invitation has expired.")),
}


def roles_offered_by(workspace: Workspace, actor: Any) -> list[Role]:
    """The roles ``actor`` may invite people to: an admin's, only the owner's to give."""
    held = workspace.role_of(actor)
    if held is None or not held.at_least(Role.ADMIN):
        return []
    return [role for role in INVITABLE_ROLES if role != Role.ADMIN or held == Role.OWNER]


def invite(request: HttpRequest, workspace: Workspace, actor: Any, email: str, role: Role) -> Invitation:
    """Invite ``email`` (again: a new link and expiry, the role as now chosen) and e-mail
    the link in the inviter's language."""
    require_team(workspace)
    require_role(workspace, actor, Role.ADMIN)
    role = Role(role)
    if role not in INVITABLE_ROLES:
        raise InvitationError(
            "validation_error", _("Hand the workspace over to make someone its owner."), field="role"
        )
    if role not in roles_offered_by(workspace, actor):
        raise InvitationError("permission_denied", _("Only the owner invites admins."), field="role")
    email = email.strip().lower()
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise InvitationError(
            "already_member",
            _("%(email)s is already a member of this workspace.") % {"email": email},
            "email",
        )
    for attempt in range(2):
        try:
            with transaction.atomic():
                invitation = (
                    Invitation.objects.open()
                    .select_for_update()
                    .filter(workspace=workspace, email=email)
                    .first()
                ) or Invitation(workspace=workspace, email=email)
                invitation.role = role
                invitation.invited_by = actor
                token = invitation.issue_token()
                invitation.save()
                _record(Action.INVITATION_SENT, workspace, invitation, actor)
            break
        except IntegrityError:
            # Two invitations of one address at once: the other one's row now exists and
            # is renewed on the second try (the partial unique constraint kept it one).
            if attempt:
                raise
    _send(request, invitation, token, actor)
    return invitation


@transaction.atomic
def revoke(workspace: Workspace, actor: Any, invitation: Invitation) -> None:
    require_role(workspace, actor, Role.ADMIN)
    updated = Invitation.objects.open().filter(pk=invitation.pk).update(revoked_at=timezone.now())
    if not updated:
        code, message = CLOSED[Invitation.objects.get(pk=invitation.pk).state]
        raise InvitationError(code, message)
    _record(Action.INVITATION_REVOKED, workspace, invitation, actor, with_role=False)


def check_open(invitation: Invitation) -> None:
    """Refuse a link that was used, declined, revoked or has expired."""
    state = invitation.state
    if state != InvitationState.PENDING:
        code, message = CLOSED[state]
        raise InvitationError(code, message)


def _check_addressed_to(invitation: Invitation, user: Any) -> None:
    if not invitation.is_for(user):
        raise InvitationError(
            "invitation_for_another_address",
            _("This invitation is for another e-mail address than the one you are signed in with."),
        )


def accept(token: str, user: Any) -> Membership:
    """Join the workspace with the role offered. The invitation's row is locked, so a
    link posted twice at once makes one membership, and the second answer is 'already
    accepted'; someone who became a member meanwhile keeps the role they have."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.for_token(token)
            .select_for_update(of=("self",))
            .select_related("workspace")
            .first()
        )
        if invitation is None:
            raise InvitationError("not_found", _("This invitation link is not valid."))
        check_open(invitation)
        _check_addressed_to(invitation, user)
        membership, _created = Membership.objects.get_or_create(
            workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
        # "Member joined" is the membership's own entry (audit's receiver): this one says how.
        _record(Action.INVITATION_ACCEPTED, invitation.workspace, invitation, user)
    forget_roles(user)
    return membership


def decline(token: str, user: Any) -> Invitation:
    """Say no. Whoever holds the link may (a signed-in person only with that address):
    the link came to that mailbox."""
    with transaction.atomic():
        invitation = Invitation.objects.for_token(token).select_for_update().first()
        if invitation is None:
            raise InvitationError("not_found", _("This invitation link is not valid."))
        check_open(invitation)
        if user.is_authenticated:
            _check_addressed_to(invitation, user)
        invitation.declined_at = timezone.now()
        invitation.save(update_fields=["declined_at"])
        # Whoever holds the link may decline, signed in or not: a visitor is nobody's account.
        _record(
            Action.INVITATION_DECLINED,
            invitation.workspace,
            invitation,
            user if user.is_authenticated else None,
        )
    return invitation


def _record(
    action: Action, workspace: Workspace, invitation: Invitation, actor: Any, *, with_role: bool = True
) -> None:
    """An invitation's step in the workspace's audit log: its address, and the role offered."""
    details = {"email": invitation.email}
    if with_role:
        details["role"] = str(invitation.role)
    record(
        action,
        workspace=workspace,
        actor=actor,
        target_type="invitation",
        target_id=str(invitation.pk),
        target_text=invitation.email,
        details=details,
    )


def invitation_url(request: HttpRequest, token: str) -> str:
    return request.build_absolute_uri(reverse("workspaces:invitation", args=[token]))


def _send(request: HttpRequest, invitation: Invitation, token: str, inviter: Any) -> None:
    """One message, in the inviter's language (their preference, else their page's): the
    invitee's is unknown, and may not be asked of an account without saying it exists.
    A mail server that fails is logged, as registration's: inviting again sends anew."""
    context = {
        "invitation": invitation,
        "workspace": invitation.workspace.name,
        "inviter": inviter.get_full_name() or inviter.email,
        "role": invitation.role_enum.label,
        "role_description": invitation.role_enum.description,
        "url": invitation_url(request, token),
        "site": request.get_host(),
    }
    with translation.override(getattr(inviter, "language", "") or translation.get_language()):
        # One line: a workspace's or a person's name may hold a line break, which a mail
        # header can't (Django refuses it, and an unchecked one would inject headers).
        subject = " ".join(render_to_string("workspaces/email/invitation_subject.txt", context).split())
        body = render_to_string("workspaces/email/invitation.txt", context)
    try:
        send_mail(subject, body, None, [invitation.email])
    except (smtplib.SMTPException, OSError):
        logger.exception("Could not send the invitation e-mail of invitation %s", invitation.pk)
