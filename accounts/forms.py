from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AdminUserCreationForm as BaseAdminUserCreationForm
from django.contrib.auth.forms import AuthenticationForm, SetPasswordMixin
from django.contrib.auth.password_validation import password_validators_help_texts
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from .models import User


class RegistrationForm(forms.Form):
    """The address only: the password is chosen on the page the e-mailed link opens
    (``FinishRegistrationForm``), by whoever reads the mailbox."""

    email = forms.EmailField(
        label=_("Email address"),
        max_length=User._meta.get_field("email").max_length,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def clean_email(self) -> str:
        # Whether an address is taken is never said here: accounts.registration e-mails it.
        return self.cleaned_data["email"].lower()


class FinishRegistrationForm(SetPasswordMixin, forms.Form):
    """The confirmation page: the name and the password, checked by Django's password
    validators against the account being finished."""

    name = forms.CharField(
        label=_("Name"),
        max_length=User._meta.get_field("name").max_length,
        required=False,
        help_text=_("How PromptLab should address you."),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password1, password2 = SetPasswordMixin.create_password_fields()
    # Django's help text is an HTML list, which the hint paragraph cannot hold: the same
    # sentences as text, in the language of each request.
    password1.help_text = lazy(lambda: " ".join(password_validators_help_texts()), str)()

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        self.validate_passwords()
        # Similarity is judged against the name being chosen, not the one stored.
        candidate = User(email=self.user.email, name=self.cleaned_data.get("name", ""))
        self.validate_password_for_user(candidate)
        return super().clean()


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
