from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from promptlab import ratelimits

from . import registration
from .forms import (
    AccountForm,
    EmailAuthenticationForm,
    FinishRegistrationForm,
    ForgottenPasswordForm,
    PasswordChangeFormWithHint,
    PersonalTokenForm,
    RegistrationForm,
    ResetPasswordForm,
)
from .language import apply_language
from .models import PersonalToken, Plan

# The raw value of a token just created, kept for the one page that shows it (the GET
# after the POST), then forgotten: a reload shows it no more and creates nothing.
NEW_TOKEN_SESSION_KEY = "accounts:new-api-token"


def _too_many_attempts(
    request: HttpRequest, form: RegistrationForm | ForgottenPasswordForm, template_name: str
) -> HttpResponse | None:
    """Registration's limits (per IP and per address, every attempt), as the API's; the
    password reset form has the same, since each attempt e-mails the address named."""
    limit = ratelimits.check_auth_attempt(request, request.POST.get("email"))
    if not limit.exceeded:
        return None
    form.add_error(
        None,
        ngettext(
            "Too many attempts. Try again in %(seconds)d second.",
            "Too many attempts. Try again in %(seconds)d seconds.",
            limit.reset,
        )
        % {"seconds": limit.reset},
    )
    return ratelimits.refused(request, render(request, template_name, {"form": form}), limit)


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("templates_app:home")
    # ``email`` fills the address in (an invitation's link does); ``next`` is where the
    # e-mailed confirmation link leads once the account is made.
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    form = RegistrationForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    context = {"form": form, "next": next_url}
    if request.method == "POST":
        if limited := _too_many_attempts(request, form, "accounts/register.html"):
            return limited
        if form.is_valid():
            registration.register(request, form.cleaned_data["email"], next_url)
            request.session["registered_email"] = form.cleaned_data["email"]
            return redirect("accounts:register-sent")
    return render(request, "accounts/register.html", context)


def _safe_next(request: HttpRequest, url: str | None) -> str:
    """``url`` if it is a path on this site, else empty (never an open redirect)."""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=False):
        return url
    return ""


@require_GET
def registration_sent(request: HttpRequest) -> HttpResponse:
    """The same page whether the address was new or taken: the e-mail says which."""
    return render(request, "accounts/register_sent.html", {"email": request.session.get("registered_email")})


@require_http_methods(["GET", "POST"])
def confirm_registration(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The e-mailed link: its owner chooses the password here (GET shows the form, so a
    mail scanner that follows links changes nothing), and is signed in."""
    user = registration.pending_user_for(uidb64, token)
    if user is None:
        return render(request, "accounts/confirm.html", {"invalid": True}, status=400)
    form = FinishRegistrationForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if not registration.finish(user, data["name"], data["password1"]):
            return render(request, "accounts/confirm.html", {"invalid": True}, status=400)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to PromptLab. Your account is ready."))
        return redirect(_safe_next(request, request.GET.get("next")) or "templates_app:home")
    return render(request, "accounts/confirm.html", {"email": user.email, "form": form})


class LoginView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        # The single sign-on button's label, when a provider is configured (the sso app,
        # a layer above, serves its URLs; this page only links to them).
        configured = settings.OIDC_ISSUER and settings.OIDC_RP_CLIENT_ID and settings.OIDC_RP_CLIENT_SECRET
        sso_provider = settings.OIDC_PROVIDER_NAME if configured else ""
        return {**super().get_context_data(**kwargs), "sso_provider": sso_provider}

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        # Failures are counted, and back off per account (ratelimits.SignInAttempt).
        self.attempt = ratelimits.SignInAttempt.begin(request, request.POST.get("username"))
        response = super().post(request, *args, **kwargs)  # refused by the form, if throttled
        if self.attempt.refusal is None:
            return response
        return ratelimits.refused(request, response, self.attempt.refusal)

    def form_valid(self, form: EmailAuthenticationForm) -> HttpResponse:
        self.attempt.succeeded()
        response = super().form_valid(form)
        user = form.get_user()
        # In the language of the page it will show on: the preference, from now on.
        with translation.override(user.language or translation.get_language()):
            messages.success(self.request, _("You are signed in as %(email)s.") % {"email": user.email})
        if user.language:
            apply_language(self.request, response, user.language)
        return self.attempt.remember_device(response)

    def form_invalid(self, form: EmailAuthenticationForm) -> HttpResponse:
        self.attempt.failed()
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.success(request, _("You are signed out."))
        return response


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """Name and language (saved), and what the account is: its address and plan's limits."""
    form = AccountForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # In the language of the page it will show on (empty: this page's, near enough).
        with translation.override(user.language or translation.get_language()):
            messages.success(request, _("Your account was saved."))
        return apply_language(request, redirect("accounts:account"), user.language)
    context = {
        "form": form,
        "plan": Plan(request.user.plan).label,
        "limits": ratelimits.plan_limits(request.user.plan),
    }
    return render(request, "accounts/account.html", context)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Changing the password; for an account without one (made by single sign-on),
    setting it, since there is no current password to ask for."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:account")

    @cached_property
    def first_password(self) -> bool:
        # Read once, before the form saves one.
        return not self.request.user.has_usable_password()

    def get_form_class(self) -> type[SetPasswordForm]:
        return ResetPasswordForm if self.first_password else PasswordChangeFormWithHint

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(first_password=self.first_password, **kwargs)

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        response = super().form_valid(form)  # keeps this session signed in
        if self.first_password:
            done = _("Your password was set: you can sign in with it too. Your API tokens were revoked.")
        else:
            done = _(
                "Your password was changed. Your API tokens were revoked and other devices were signed out."
            )
        messages.success(self.request, done)
        return response


class PasswordResetView(auth_views.PasswordResetView):
    form_class = ForgottenPasswordForm
    template_name = "accounts/password_reset.html"
    subject_template_name = "accounts/email/reset_subject.txt"
    email_template_name = "accounts/email/reset.txt"
    success_url = reverse_lazy("accounts:password-reset-sent")

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        form = self.get_form()
        if limited := _too_many_attempts(request, form, self.template_name):
            return limited
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: ForgottenPasswordForm) -> HttpResponse:
        self.request.session["reset_email"] = form.cleaned_data["email"]
        return super().form_valid(form)


class PasswordResetSentView(auth_views.PasswordResetDoneView):
    """The same page for every address: the e-mail says whether it has an account."""

    template_name = "accounts/password_reset_sent.html"

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        return {**super().get_context_data(**kwargs), "email": self.request.session.get("reset_email")}


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = ResetPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password-reset-complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """Personal API tokens: create one (shown once, on the page the POST redirects to)
    and see or revoke the others."""
    form = PersonalTokenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires_at = timezone.now() + timedelta(days=days) if days else None
        token, raw = PersonalToken.issue(
            request.user,
            form.cleaned_data["name"],
            expires_at,
            form.cleaned_data["templates"],
            scope=form.cleaned_data["scope"],
            workspace=form.cleaned_data["workspace"],
        )
        request.session[NEW_TOKEN_SESSION_KEY] = {"id": token.pk, "value": raw}
        return redirect("accounts:tokens")
    new_token = request.session.pop(NEW_TOKEN_SESSION_KEY, None) if request.method == "GET" else None
    tokens = (
        PersonalToken.objects.filter(user=request.user)
        .select_related("workspace")
        .prefetch_related("templates")
    )
    return render(request, "accounts/tokens.html", {"form": form, "tokens": tokens, "new_token": new_token})


@login_required
@require_http_methods(["GET", "POST"])
def revoke_api_token(request: HttpRequest, token_id: int) -> HttpResponse:
    """GET asks (a page of its own, so it works without JavaScript); POST revokes."""
    token = get_object_or_404(PersonalToken, pk=token_id, user=request.user)
    if not token.is_usable:
        return redirect("accounts:tokens")
    if request.method == "GET":
        return render(request, "accounts/revoke_token.html", {"token": token})
    token.revoke()
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("accounts:tokens")
