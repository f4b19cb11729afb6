from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Invitation, Role


class InvitationForm(forms.Form):
    """An address and a role; the roles offered are those the inviter may give."""

    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=Invitation._meta.get_field("email").max_length,
        help_text=_("They can join with an account they have with this address, or create one with it."),
        widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    role = forms.ChoiceField(label=_("Role"), widget=forms.RadioSelect, initial=Role.MEMBER)

    def __init__(self, *args: Any, roles: list[Role], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["role"]
        field.choices = [(role.value, f"{role.label}: {role.description}") for role in roles]
        if Role.ADMIN not in roles:
            field.help_text = _("Only the workspace's owner invites admins.")
            field.error_messages["invalid_choice"] = _(
                "Choose member or editor: only the owner invites admins."
            )
        else:
            field.error_messages["invalid_choice"] = _("Choose one of the roles listed.")

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()
