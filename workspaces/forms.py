from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Membership, Role, Workspace

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class WorkspaceCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What its members see, for example: Support team."),
        error_messages={
            "required": _("Enter the workspace’s name."),
            "max_length": _("The workspace’s name can have at most 100 characters."),
        },
    )
    slug = forms.CharField(
        label=_("Short name"),
        required=False,
        max_length=50,
        help_text=_(
            "Used in addresses: lower-case letters, digits and hyphens, for example support-team. "
            "Left empty, it is made from the name."
        ),
        widget=forms.TextInput(attrs={"autocapitalize": "off", "spellcheck": "false"}),
        error_messages={"max_length": _("The short name can have at most 50 characters.")},
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Enter the workspace’s name."))
        return name

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].strip()
        if not slug:
            return ""
        if not SLUG_PATTERN.match(slug):
            raise forms.ValidationError(
                _(
                    "The short name can have only lower-case letters, digits and single hyphens "
                    "between them, for example support-team."
                )
            )
        if Workspace.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("Another workspace has this short name: choose another."))
        return slug


class WorkspaceSettingsForm(forms.ModelForm):
    class Meta:
        model = Workspace
        fields = ("name", "members_see_all_jobs", "review_required")
        labels = {
            "name": _("Name"),
            "members_see_all_jobs": _("Members see every job"),
            "review_required": _("Review before publishing"),
        }
        error_messages = {
            "name": {
                "required": _("Enter the workspace’s name."),
                "max_length": _("The workspace’s name can have at most 100 characters."),
            }
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.personal:
            del self.fields["name"]  # shown as "Personal" everywhere

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Enter the workspace’s name."))
        return name


ASSIGNABLE_ROLES = [(role.value, role.label) for role in Role if role != Role.OWNER]


class RoleForm(forms.Form):
    """One member's new role (the owner's role changes only by a hand-over)."""

    role = forms.ChoiceField(
        label=_("Role"),
        choices=ASSIGNABLE_ROLES,
        error_messages={
            "required": _("Choose a role."),
            "invalid_choice": _("Choose one of the roles listed."),
        },
    )


class TransferForm(forms.Form):
    new_owner = forms.ModelChoiceField(
        label=_("Who should own the workspace?"),
        queryset=Membership.objects.none(),
        widget=forms.RadioSelect,
        help_text=_("They become its owner; you stay on as an admin."),
        error_messages={
            "required": _("Choose the member who should own the workspace."),
            "invalid_choice": _("Choose one of the members listed."),
        },
    )

    def __init__(self, *args: Any, workspace: Workspace, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["new_owner"]
        field.queryset = workspace.memberships.exclude(user=actor).select_related("user")
        field.label_from_instance = lambda membership: (
            f"{membership.user.email} ({membership.get_role_display()})"
        )
