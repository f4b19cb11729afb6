"""The two ends of a sign-in with the provider, mozilla-django-oidc's views with the
provider's endpoints from its discovery document and refusals said on the sign-in page."""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.language import apply_language
from promptlab import ratelimits

from . import domains, provider
from .backends import REFUSAL_ATTRIBUTE, Refusal, refuse

logger = logging.getLogger(__name__)


class BeginSignIn(OIDCAuthenticationRequestView):
    """Off to the provider, with a new state, nonce and PKCE challenge kept in the session;
    ``next`` is kept only if it is on this site (the parent's url_has_allowed_host_and_scheme)."""

    def __init__(self, **kwargs: object) -> None:
        View.__init__(self, **kwargs)  # not the parent's: it reads the endpoint settings

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:  # noqa: N802  (the name the parent reads)
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_OP_AUTH_ENDPOINT(self) -> str:  # noqa: N802
        return provider.endpoint("authorization_endpoint")

    def get(self, request: HttpRequest) -> HttpResponse:
        if not provider.enabled():
            raise Http404
        # Each start writes a session and a state to it: counted per address, as any
        # visitor's requests (the sign-in isn't done yet, whoever is signed in).
        limit = ratelimits.check_request(request, None, group="sso")
        if limit.exceeded:
            ratelimits.note_limit(request, limit)
            messages.error(
                request,
                ngettext(
                    "Too many sign-ins were started from your address. Try again in %(seconds)d second.",
                    "Too many sign-ins were started from your address. Try again in %(seconds)d seconds.",
                    limit.reset,
                )
                % {"seconds": limit.reset},
            )
            return redirect("accounts:login")
        try:
            return super().get(request)
        except provider.Unreachable as error:
            logger.warning("single sign-on: %s", error)
            messages.error(request, Refusal.UNREACHABLE.message())
            return redirect("accounts:login")


class FinishSignIn(OIDCAuthenticationCallbackView):
    """The provider's answer: the code exchanged, the tokens checked (state, nonce, PKCE
    verifier, signature, issuer, audience), the account found or made, and signed in."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not provider.enabled():
            raise Http404
        if request.GET.get("error") == "access_denied":
            refuse(request, Refusal.CANCELLED)
        try:
            return super().get(request)
        except SuspiciousOperation as error:  # an unknown state, a wrong nonce or signature…
            logger.warning("single sign-on refused: %s", error)
        except (provider.Unreachable, requests.RequestException) as error:
            logger.warning("single sign-on: %s", error)
            refuse(request, Refusal.UNREACHABLE)
        return self.login_failure()

    def login_success(self) -> HttpResponse:
        domains.join_mapped_workspaces(self.user)
        response = super().login_success()  # django.contrib.auth.login: user_logged_in is sent
        user = self.user
        # As the password sign-in: in the language of the page it will show on.
        with translation.override(user.language or translation.get_language()):
            messages.success(self.request, _("You are signed in as %(email)s.") % {"email": user.email})
        if user.language:
            apply_language(self.request, response, user.language)
        return response

    def login_failure(self) -> HttpResponse:
        refusal = getattr(self.request, REFUSAL_ATTRIBUTE, Refusal.FAILED)
        messages.error(self.request, refusal.message())
        return redirect("accounts:login")
