from __future__ import annotations

import logging
import smtplib
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AdminUserCreationForm as BaseAdminUserCreationForm
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
    SetPasswordMixin,
)
from django.contrib.auth.password_validation import password_validators_help_texts
from django.core.mail import send_mail
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from .models import PersonalToken, TokenScope, User

logger = logging.getLogger(__name__)


# Django's help text is an HTML list, which the hint paragraph cannot hold: the same
# sentences as text, in the language of each request.
PASSWORD_HINT = lazy(lambda: " ".join(password_validators_help_texts()), str)()


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
    password1.help_text = PASSWORD_HINT

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
    templates = forms.ModelMultipleChoiceField(
        label=_("Templates it may run"),
        queryset=PersonalToken.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Through the API and to AI agents (MCP), the token sees and runs only the templates ticked here. "
            "Tick none for a token that may run every template you can."
        ),
    )

    workspace = forms.ModelChoiceField(
        label=_("Workspace"),
        queryset=PersonalToken.objects.none(),
        required=False,
        empty_label=_("Every workspace of mine"),
        help_text=_("The token reaches only this workspace's templates and jobs."),
    )
    scope = forms.ChoiceField(
        label=_("What it may do"),
        choices=TokenScope.choices,
        initial=TokenScope.FULL,
        required=False,  # a form posted without it (a script of the page's) makes a full token
        widget=forms.RadioSelect,
        help_text=PersonalToken._meta.get_field("scope").help_text,
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["templates"]
        field.queryset = PersonalToken.template_choices(user)
        field.label_from_instance = lambda template: template.display_name
        workspace = self.fields["workspace"]
        workspace.queryset = PersonalToken.workspace_choices(user)
        workspace.label_from_instance = lambda choice: choice.display_name

    def clean_scope(self) -> str:
        return self.cleaned_data["scope"] or TokenScope.FULL

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        workspace, templates = cleaned.get("workspace"), cleaned.get("templates")
        if workspace is not None and templates:
            outside = [t.display_name for t in templates if t.workspace_id != workspace.pk]
            if outside:
                self.add_error(
                    "templates",
                    _("Not in the chosen workspace: %(names)s. Untick them or choose another workspace.")
                    % {"names": ", ".join(outside)},
                )
        return cleaned


class AccountForm(forms.ModelForm):
    """The account page: what a person may change about themselves. The address is the
    sign-in name, shown but not changed here (a new one would need its own confirmation)."""

    class Meta:
        model = User
        fields = ("name", "language")
        labels = {"name": _("Name"), "language": _("Language")}
        help_texts = {
            "name": _("How PromptLab should address you."),
            "language": _("Every page, once you are signed in, on any device."),
        }
        widgets = {"name": forms.TextInput(attrs={"autocomplete": "name"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        language = self.fields["language"]
        language.choices = [("", _("The browser’s language")), *settings.LANGUAGES]
        language.widget.choices = language.choices


class PasswordChangeFormWithHint(PasswordChangeForm):
    error_messages = {
        **PasswordChangeForm.error_messages,
        "password_incorrect": _("Your current password is not right. Enter it again."),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["old_password"].label = _("Current password")
        self.fields["new_password1"].help_text = PASSWORD_HINT


class ResetPasswordForm(SetPasswordForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].help_text = PASSWORD_HINT
        self.fields["new_password1"].widget.attrs["autofocus"] = True


class ForgottenPasswordForm(PasswordResetForm):
    """Django's reset request, answered the same way for every address: an account's
    owner gets the reset link; any other address a note that it has no account, so that
    the answer (and how long it takes) never says which addresses have one."""

    email = forms.EmailField(
        label=_("Email address"),
        max_length=User._meta.get_field("email").max_length,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def save(self, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:  # type: ignore[override]
        email = self.cleaned_data["email"]
        if next(iter(self.get_users(email)), None) is not None:
            super().save(*args, request=request, **kwargs)
            return
        # No active account with a password: a pending registration or no account at all.
        context = {
            "email": email,
            "register_url": request.build_absolute_uri(reverse("accounts:register")) if request else "",
            "site": request.get_host() if request else "",
        }
        subject = render_to_string("accounts/email/reset_no_account_subject.txt", context).strip()
        body = render_to_string("accounts/email/reset_no_account.txt", context)
        try:
            send_mail(subject, body, None, [email])
        except (smtplib.SMTPException, OSError):
            # As Django's own reset e-mail: logged, never shown (the answer must not differ).
            logger.exception("Could not send the password reset e-mail for an address without an account")
