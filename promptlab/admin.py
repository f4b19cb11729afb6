"""The admin site, with its login door guarded like the others (ratelimits.SignInAttempt)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from accounts.forms import AdminSignInForm

from . import ratelimits


class PromptLabAdminSite(admin.AdminSite):
    login_form = AdminSignInForm

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method != "POST":
            return super().login(request, extra_context)
        attempt = ratelimits.SignInAttempt.begin(request, request.POST.get("username"))
        response = super().login(request, extra_context)  # refused by the form, if throttled
        if attempt.refusal is not None:
            return ratelimits.refused(request, response, attempt.refusal)
        # Django's admin login answers a success with a redirect, a failure with the form.
        if response.status_code == 302 and request.user.is_authenticated:
            attempt.succeeded()
            attempt.remember_device(response)
        else:
            attempt.failed()
        return response
