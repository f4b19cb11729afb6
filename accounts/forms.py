from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AdminUserCreationForm as BaseAdminUserCreationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.utils.translation import gettext_lazy as _

from .models import User


class RegistrationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "name")
        help_texts = {"name": _("How PromptLab should address you.")}

    def clean_email(self) -> str:
        return self.cleaned_data["email"].lower()

    def validate_unique(self) -> None:
        # Whether an address is taken is never said here: accounts.registration e-mails it.
        pass


class AdminUserCreationForm(BaseAdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class RefusableSignInMixin:
    """A sign-in form that a throttled attempt (``request.sign_in_refusal``, set by the
    view) refuses before any password is checked: rendering a bound form validates it,
    and so would authenticate."""

    def clean(self) -> dict[str, Any]:
        refusal = getattr(self.request, "sign_in_refusal", None)  # type: ignore[attr-defined]
        if refusal is not None:
            raise forms.ValidationError(refusal, code="throttled")
        return super().clean()  # type: ignore[misc]


class AdminSignInForm(RefusableSignInMixin, AdminAuthenticationForm):
    pass


class EmailAuthenticationForm(RefusableSignInMixin, AuthenticationForm):
    username = forms.EmailField(
        label=_("Email address"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class PersonalTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"), max_length=100, help_text=_("What the token is for, e.g. “nightly report”.")
    )
    expires_in_days = forms.IntegerField(
        label=_("Expires after (days)"),
        min_value=1,
        max_value=3650,
        required=False,
        help_text=_("Leave empty for a token that does not expire."),
    )
