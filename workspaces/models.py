"""Workspaces: who may do what with the templates a team shares.

Every user has one personal workspace (made with the account, never shared); team
workspaces have members, each with one role. A template belongs to a workspace, and
its managers are that workspace's editors and above (``Role.can_edit``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import PersonalToken


class Role(models.TextChoices):
    """In rising order of rights: each role may do everything the ones before it may."""

    # A context of their own: "Admin" elsewhere is the site's administration.
    MEMBER = "member", pgettext_lazy("workspace role", "Member")
    EDITOR = "editor", pgettext_lazy("workspace role", "Editor")
    ADMIN = "admin", pgettext_lazy("workspace role", "Admin")
    OWNER = "owner", pgettext_lazy("workspace role", "Owner")

    @property
    def rank(self) -> int:
        return _RANKS[self.value]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank

    @property
    def description(self) -> str:
        return str(_DESCRIPTIONS[self.value])


_RANKS = {Role.MEMBER: 1, Role.EDITOR: 2, Role.ADMIN: 3, Role.OWNER: 4}
_DESCRIPTIONS = {
    Role.MEMBER: _("Runs the workspace's templates and sees their own jobs."),
    Role.EDITOR: _("Also creates, edits and publishes templates."),
    Role.ADMIN: _("Also manages members, their roles and the workspace's settings."),
    Role.OWNER: _("Everything, including deleting the workspace and handing it over."),
}


class WorkspaceQuerySet(models.QuerySet["Workspace"]):
    def of(self, user: Any) -> WorkspaceQuerySet:
        """The workspaces ``user`` is a member of (personal first, then by name)."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user).order_by("-personal", "name")

    def reachable_with(self, credential: Any) -> WorkspaceQuerySet:
        """A personal token limited to one workspace reaches that one only (the templates'
        ``reachable_with`` holds it to the same on their side)."""
        workspace_id = (
            getattr(credential, "workspace_id", None) if isinstance(credential, PersonalToken) else None
        )
        return self.filter(pk=workspace_id) if workspace_id is not None else self

    def where(self, user: Any, role: Role) -> WorkspaceQuerySet:
        """Those where ``user`` holds ``role`` or a higher one."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(pk__in=Membership.objects.workspaces_of(user, role)).order_by("-personal", "name")


class WorkspaceManager(models.Manager.from_queryset(WorkspaceQuerySet)):  # type: ignore[misc]
    def personal_for(self, user: Any) -> Workspace:
        """The user's personal workspace, made on first need (the data migration and the
        account's creation make it; a race of two first needs ends on the unique owner)."""
        existing = self.filter(personal=True, memberships__user=user).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                workspace = self.create(
                    name=user.get_short_name()[:100],
                    slug=unique_slug(user.email.partition("@")[0] or "personal"),
                    personal=True,
                    personal_owner=user,
                )
                Membership.objects.create(workspace=workspace, user=user, role=Role.OWNER)
        except IntegrityError:
            return self.get(personal_owner=user)
        return workspace


def unique_slug(wanted: str) -> str:
    """``wanted`` as a slug, with a number added when another workspace has it."""
    base = slugify(wanted)[:40] or "workspace"
    slug, number = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        number += 1
        slug = f"{base}-{number}"
    return slug


class Workspace(models.Model):
    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(
        _("short name"),
        max_length=50,
        unique=True,
        help_text=_("Used in addresses and by the API: lower-case letters, digits and hyphens."),
    )
    personal = models.BooleanField(_("personal"), default=False, editable=False)
    # Only for a personal workspace: the one person it belongs to (one each, at most).
    personal_owner = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("personal workspace of"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        editable=False,
        related_name="personal_workspace",
    )
    members_see_all_jobs = models.BooleanField(
        _("members see every job"),
        default=False,
        help_text=_(
            "Let every member see all the jobs run with the workspace's templates, not only their own."
        ),
    )
    review_required = models.BooleanField(
        _("review before publishing"),
        default=False,
        help_text=_(
            "An editor's publish becomes a proposal: an admin or the owner reads the changes and "
            "approves (publishes) them or asks for changes."
        ),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = WorkspaceManager()

    class Meta:
        verbose_name = _("workspace")
        verbose_name_plural = _("workspaces")
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(
                condition=Q(personal=False, personal_owner__isnull=True)
                | Q(personal=True, personal_owner__isnull=False),
                name="workspace_personal_has_its_owner",
            )
        ]

    def __str__(self) -> str:
        return str(self.display_name)

    def get_absolute_url(self) -> str:
        return reverse("workspaces:detail", args=[self.slug])

    @property
    def display_name(self) -> str:
        return str(_("Personal")) if self.personal else self.name

    def role_of(self, user: Any) -> Role | None:
        """``user``'s role here, or None for anyone who is not a member (read once per
        request and user: ``roles_of``)."""
        return roles_of(user).get(self.pk)

    def allows(self, user: Any, role: Role) -> bool:
        held = self.role_of(user)
        return held is not None and held.at_least(role)

    @property
    def owner_membership(self) -> Membership | None:
        return self.memberships.filter(role=Role.OWNER).select_related("user").first()


class MembershipQuerySet(models.QuerySet["Membership"]):
    def workspaces_of(self, user: Any, role: Role = Role.MEMBER) -> models.QuerySet[Any]:
        """The ids of the workspaces where ``user`` holds ``role`` or a higher one, as a
        subquery for a caller's filter."""
        held = [r for r in Role if Role(r).at_least(role)]
        return self.filter(user=user, role__in=held).values("workspace_id")


class Membership(models.Model):
    workspace = models.ForeignKey(
        Workspace, verbose_name=_("workspace"), on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(_("joined"), auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ("user__email",)
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_once_per_workspace"),
            # Exactly one owner is kept by the services (a transfer swaps roles in one
            # transaction); the database refuses a second.
            models.UniqueConstraint(
                fields=["workspace"], condition=Q(role="owner"), name="membership_one_owner"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.workspace})"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


_ROLES_ATTRIBUTE = "_workspace_roles"


def roles_of(user: Any) -> dict[int, Role]:
    """{workspace id: role} for ``user``, read once and kept on the user object for the
    rest of its request (a role change is seen by the next request)."""
    if user is None or not user.is_authenticated:
        return {}
    roles = getattr(user, _ROLES_ATTRIBUTE, None)
    if roles is None:
        rows = Membership.objects.filter(user=user).values_list("workspace_id", "role")
        roles = {workspace_id: Role(role) for workspace_id, role in rows}
        setattr(user, _ROLES_ATTRIBUTE, roles)
    return roles


def forget_roles(user: Any) -> None:
    """After a change of ``user``'s memberships within one request."""
    if user is not None and hasattr(user, _ROLES_ATTRIBUTE):
        delattr(user, _ROLES_ATTRIBUTE)


# --- Invitations --------------------------------------------------------------

# The roles an invitation may give: the owner's is only handed over.
INVITABLE_ROLES = (Role.MEMBER, Role.EDITOR, Role.ADMIN)


class InvitationState(models.TextChoices):
    PENDING = "pending", _("Waiting for an answer")
    EXPIRED = "expired", _("Expired")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    REVOKED = "revoked", _("Revoked")


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def open(self) -> InvitationQuerySet:
        """Neither accepted, declined nor revoked (expired ones included: inviting the
        address again renews them)."""
        return self.filter(accepted_at__isnull=True, declined_at__isnull=True, revoked_at__isnull=True)

    def for_token(self, token: str) -> InvitationQuerySet:
        return self.filter(token_hash=hash_invitation_token(token))


def hash_invitation_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Invitation(models.Model):
    """An e-mailed offer to join a team workspace with a role, accepted by whoever signs
    in with that address.

    The link carries a random token and only its SHA-256 is stored, rather than a
    ``TimestampSigner`` token: an invitation is revoked, renewed (a new link, the old one
    dead) and used once, and all three need a row that the link is checked against; with
    that row a signature would add nothing, while a stored hash makes the row the one
    truth (no SECRET_KEY rotation that kills every link, no signed link that outlives
    its revocation) and a copy of the database holds no link that works. The token is
    256 random bits, so an unsalted fast hash is enough: there is nothing to guess."""

    workspace = models.ForeignKey(
        Workspace, verbose_name=_("workspace"), on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(_("e-mail address"))
    role = models.CharField(
        _("role"),
        max_length=16,
        choices=[(role.value, role.label) for role in INVITABLE_ROLES],
        default=Role.MEMBER,
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("invited by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    # When the invitation was last sent: inviting the address again renews it.
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    accepted_at = models.DateTimeField(_("accepted"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("accepted by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    declined_at = models.DateTimeField(_("declined"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=Q(accepted_at__isnull=True, declined_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_address",
            ),
            models.CheckConstraint(
                condition=Q(role__in=[role.value for role in INVITABLE_ROLES]), name="invitation_never_owner"
            ),
            models.CheckConstraint(condition=Q(email=Lower("email")), name="invitation_email_lower_case"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.get_role_display()}, {self.workspace})"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def state(self) -> InvitationState:
        if self.accepted_at is not None:
            return InvitationState.ACCEPTED
        if self.revoked_at is not None:
            return InvitationState.REVOKED
        if self.declined_at is not None:
            return InvitationState.DECLINED
        if self.expires_at <= timezone.now():
            return InvitationState.EXPIRED
        return InvitationState.PENDING

    def issue_token(self) -> str:
        """A new link (the previous one stops working) and a new expiry; the raw token is
        returned once, for the e-mail, and never stored."""
        token = secrets.token_urlsafe(32)
        self.token_hash = hash_invitation_token(token)
        self.created_at = timezone.now()
        self.expires_at = self.created_at + timedelta(days=settings.INVITATION_DAYS)
        return token

    def is_for(self, user: Any) -> bool:
        return bool(user is not None and user.is_authenticated and user.email.lower() == self.email)
