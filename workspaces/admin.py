from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext as _

from audit.models import Action
from audit.services import record

from .models import Membership, Role, Workspace, forget_roles


class MembershipFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        """One owner, as the services keep it: a second is refused by the database's
        constraint only when the first is not being changed in the same form, and none at
        all by nothing, which would leave a workspace nobody can hand over or delete."""
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.has_changed() or form.instance.pk
            if not (self.can_delete and self._should_delete_form(form))
        ]
        owners = sum(1 for form in kept if form.cleaned_data.get("role") == Role.OWNER)
        if owners != 1:
            raise ValidationError(
                _("A workspace has exactly one owner (now %(count)d): keep one member's role as owner.")
                % {"count": owners},
                code="one_owner",
            )


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipFormSet
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "role", "joined_at")
    readonly_fields = ("joined_at",)


def _as_json(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | str) else str(value)


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "personal", "created_at")
    list_filter = ("personal",)
    search_fields = ("name", "slug", "memberships__user__email")
    readonly_fields = ("personal", "personal_owner", "created_at")
    inlines = (MembershipInline,)

    # The admin changes rows directly, not through workspaces.services: it records the
    # same entries (a membership it adds is recorded by audit's post_save receiver).

    def save_model(self, request: Any, obj: Workspace, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            changes = {
                field: [_as_json(form.initial.get(field)), _as_json(form.cleaned_data[field])]
                for field in form.changed_data
            }
            record(
                Action.WORKSPACE_CHANGED,
                workspace=obj,
                actor=request.user,
                target=obj,
                details={"changes": changes, "through": "admin"},
            )

    def save_formset(self, request: Any, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        roles_before = {row.instance.pk: row.initial.get("role") for row in formset.initial_forms}
        super().save_formset(request, form, formset, change)
        for membership in formset.deleted_objects:
            record(
                Action.MEMBER_REMOVED,
                workspace=form.instance,
                actor=request.user,
                target=membership.user,
                details={"role": membership.role, "through": "admin"},
            )
            forget_roles(membership.user)
        for membership, fields in formset.changed_objects:
            if "role" in fields:
                record(
                    Action.ROLE_CHANGED,
                    workspace=form.instance,
                    actor=request.user,
                    target=membership.user,
                    details={"from": roles_before[membership.pk], "to": membership.role, "through": "admin"},
                )
                forget_roles(membership.user)
