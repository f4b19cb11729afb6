from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from promptlab import ratelimits

from . import registration
from .forms import EmailAuthenticationForm, FinishRegistrationForm, PersonalTokenForm, RegistrationForm
from .models import PersonalToken


def _too_many_registrations(request: HttpRequest, form: RegistrationForm) -> HttpResponse | None:
    """Registration's limits (per IP and per address, every attempt), as the API's."""
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
    return ratelimits.refused(request, render(request, "accounts/register.html", {"form": form}), limit)


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("templates_app:home")
    form = RegistrationForm(request.POST or None)
    if request.method == "POST":
        if limited := _too_many_registrations(request, form):
            return limited
        if form.is_valid():
            registration.register(request, form.cleaned_data["email"])
            request.session["registered_email"] = form.cleaned_data["email"]
            return redirect("accounts:register-sent")
    return render(request, "accounts/register.html", {"form": form})


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
        return redirect("templates_app:home")
    return render(request, "accounts/confirm.html", {"email": user.email, "form": form})


class LoginView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

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
        return self.attempt.remember_device(response)

    def form_invalid(self, form: EmailAuthenticationForm) -> HttpResponse:
        self.attempt.failed()
        return super().form_invalid(form)


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """Personal API tokens: create one (shown once, here) and see or revoke the others."""
    form = PersonalTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        expires_at = timezone.now() + timedelta(days=days) if days else None
        _token, new_token = PersonalToken.issue(request.user, form.cleaned_data["name"], expires_at)
        form = PersonalTokenForm()
    tokens = PersonalToken.objects.filter(user=request.user)
    return render(request, "accounts/tokens.html", {"form": form, "tokens": tokens, "new_token": new_token})


@login_required
@require_POST
def revoke_api_token(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(PersonalToken, pk=token_id, user=request.user)
    token.revoke()
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("accounts:tokens")
