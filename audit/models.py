"""The audit log: who did what, when and from where, in a workspace (or on the site).

Entries are only ever added (``audit.services.record``). The model refuses to change or
delete one, and so does its queryset, except for what the database's own ``SET_NULL``
needs when a workspace or a person is deleted: the entry keeps their names as text.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    SIGNED_IN = "signed_in", _("Signed in")
    SIGN_IN_FAILED = "sign_in_failed", _("Sign-in failed")
    TOKEN_CREATED = "token_created", _("API token created")
    TOKEN_REVOKED = "token_revoked", _("API token revoked")
    WORKSPACE_CREATED = "workspace_created", _("Workspace created")
    WORKSPACE_CHANGED = "workspace_changed", _("Workspace settings changed")
    WORKSPACE_DELETED = "workspace_deleted", _("Workspace deleted")
    MEMBER_JOINED = "member_joined", _("Member joined")
    MEMBER_REMOVED = "member_removed", _("Member removed")
    MEMBER_LEFT = "member_left", _("Member left")
    ROLE_CHANGED = "role_changed", _("Role changed")
    OWNERSHIP_TRANSFERRED = "ownership_transferred", _("Workspace handed over")
    INVITATION_SENT = "invitation_sent", _("Invitation sent")
    INVITATION_ACCEPTED = "invitation_accepted", _("Invitation accepted")
    INVITATION_REVOKED = "invitation_revoked", _("Invitation withdrawn")
    INVITATION_DECLINED = "invitation_declined", _("Invitation declined")
    BUDGET_CHANGED = "budget_changed", _("Budget changed")
    TEMPLATE_CREATED = "template_created", _("Template created")
    TEMPLATE_EDITED = "template_edited", _("Template edited")
    TEMPLATE_PROPOSED = "template_proposed", _("Template proposed for review")
    TEMPLATE_CHANGES_REQUESTED = "template_changes_requested", _("Changes asked for")
    TEMPLATE_APPROVED = "template_approved", _("Template approved")
    TEMPLATE_PUBLISHED = "template_published", _("Template published")
    TEMPLATE_ROLLED_BACK = "template_rolled_back", _("Template rolled back")
    TEMPLATE_DELETED = "template_deleted", _("Template deleted")
    TEMPLATE_RESTORED = "template_restored", _("Template restored")
    THEME_CHANGED = "theme_changed", _("Theme changed")
    CUSTOM_CSS_CHANGED = "custom_css_changed", _("Custom CSS changed")
    PROVIDER_CONNECTION_ADDED = "provider_connection_added", _("Provider connection added")
    PROVIDER_CONNECTION_CHANGED = "provider_connection_changed", _("Provider connection changed")
    PROVIDER_CONNECTION_DELETED = "provider_connection_deleted", _("Provider connection deleted")


class AppendOnlyError(Exception):
    """An audit entry was to be changed or deleted: entries are only ever added."""


# What the deletion of a workspace or a person does to their entries (on_delete=SET_NULL,
# run by Django's collector as a queryset update): the one update allowed.
_NULLABLE_LINKS = frozenset({"workspace", "actor"})


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> int:
        if kwargs and set(kwargs) <= _NULLABLE_LINKS and all(value is None for value in kwargs.values()):
            return super().update(**kwargs)
        raise AppendOnlyError("Audit entries cannot be changed.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnlyError("Audit entries cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Audit entries cannot be deleted.")

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]

    def in_workspace(self, workspace: Any) -> AuditEntryQuerySet:
        return self.filter(workspace=workspace)


class AuditEntryManager(models.Manager.from_queryset(AuditEntryQuerySet)):  # type: ignore[misc]
    pass


class AuditEntry(models.Model):
    # By name: audit sits below workspaces and imports nothing from it.
    workspace = models.ForeignKey(
        "workspaces.Workspace",
        verbose_name=_("workspace"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_entries",
    )
    workspace_name = models.CharField(_("workspace name"), max_length=100, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_email = models.CharField(_("person's e-mail"), max_length=254, blank=True)
    action = models.CharField(_("action"), max_length=40, choices=Action.choices)
    target_type = models.CharField(_("target type"), max_length=40, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    target_text = models.CharField(_("target"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now, editable=False)

    objects = AuditEntryManager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ("-created_at", "-pk")
        # The collector's SET_NULL goes through this manager too, so its guard applies.
        base_manager_name = "objects"
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="audit_workspace_created"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.target_text or self.actor_email}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError("Audit entries cannot be deleted.")

    @property
    def version(self) -> int | None:
        """The template version the entry is about, when it is one (for a link to its changes)."""
        number = (self.details or {}).get("version")
        return number if isinstance(number, int) and self.target_type == "template" else None

    @property
    def template_slug(self) -> str:
        return str((self.details or {}).get("slug") or "")

    @property
    def details_text(self) -> str:
        """The details people read (a role's change, the settings changed), in their language."""
        details = self.details if isinstance(self.details, dict) else {}
        roles = _role_labels()
        if self.action == Action.ROLE_CHANGED and {"from", "to"} <= set(details):
            return _("from %(old)s to %(new)s") % {
                "old": roles.get(details["from"], details["from"]),
                "new": roles.get(details["to"], details["to"]),
            }
        if self.action == Action.OWNERSHIP_TRANSFERRED and details.get("to"):
            return _("to %(email)s") % {"email": details["to"]}
        if self.action == Action.TEMPLATE_ROLLED_BACK and details.get("previous"):
            return _("from version %(previous)s") % {"previous": details["previous"]}
        if details.get("role"):
            return _("as %(role)s") % {"role": roles.get(details["role"], details["role"])}
        if isinstance(details.get("changes"), dict) and details["changes"]:
            return _("changed: %(fields)s") % {"fields": ", ".join(sorted(details["changes"]))}
        return ""


def _role_labels() -> dict[str, str]:
    """A membership's roles and their names, reached through the workspace relation (audit
    imports nothing from workspaces)."""
    workspace_model = AuditEntry._meta.get_field("workspace").related_model
    membership_model = workspace_model._meta.get_field("memberships").related_model  # type: ignore[union-attr]
    return {value: str(label) for value, label in membership_model._meta.get_field("role").flatchoices}
