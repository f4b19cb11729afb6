"""Signing in with an OpenID Connect provider: mozilla-django-oidc's backend, told where
the provider is by its discovery document (``sso.provider``), matching accounts by
verified e-mail address and making one on first sign-in.

Why mozilla-django-oidc rather than django-allauth: it is one small, maintained package
(an authentication backend and two views) that does the authorization code flow with
state, nonce and PKCE and leaves accounts to us; allauth would bring its own account
model, pages and e-mail flows beside the ones PromptLab already has.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts.models import User

from . import provider

logger = logging.getLogger(__name__)


class Refusal(enum.Enum):
    """Why a sign-in with the provider was refused: said on the sign-in page."""

    FAILED = "failed"
    UNVERIFIED = "unverified"
    INACTIVE = "inactive"
    UNREACHABLE = "unreachable"
    CANCELLED = "cancelled"

    def message(self) -> str:
        name = provider.name()
        return {
            Refusal.FAILED: _(
                "Signing in with %(provider)s failed. Try again, or sign in with your password."
            ),
            Refusal.UNVERIFIED: _(
                "%(provider)s did not confirm that the e-mail address is yours, so PromptLab cannot "
                "sign you in with it. Confirm your e-mail address with %(provider)s, then try again."
            ),
            Refusal.INACTIVE: _("This PromptLab account is not active, so it cannot sign in."),
            Refusal.UNREACHABLE: _(
                "%(provider)s could not be reached. Try again later, or sign in with your password."
            ),
            Refusal.CANCELLED: _("Signing in with %(provider)s was cancelled."),
        }[self] % {"provider": name}


REFUSAL_ATTRIBUTE = "sso_refusal"


def refuse(request: HttpRequest, refusal: Refusal) -> None:
    setattr(request, REFUSAL_ATTRIBUTE, refusal)


def is_verified(value: Any) -> bool:
    # A boolean in the specification; some providers send the string.
    return value is True or (isinstance(value, str) and value.lower() == "true")


class OIDCBackend(OIDCAuthenticationBackend):
    """Listed in AUTHENTICATION_BACKENDS after Django's: Django builds every backend for
    each password sign-in too, so nothing here reads the provider until a callback."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not the parent's: it reads every endpoint setting at once.
        self.UserModel = get_user_model()

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:  # noqa: N802  (the names the parent reads)
        return settings.OIDC_RP_CLIENT_ID

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:  # noqa: N802
        return settings.OIDC_RP_CLIENT_SECRET

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:  # noqa: N802
        return settings.OIDC_RP_SIGN_ALGO

    OIDC_RP_IDP_SIGN_KEY = None

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:  # noqa: N802
        return provider.endpoint("token_endpoint")

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:  # noqa: N802
        return provider.endpoint("userinfo_endpoint")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:  # noqa: N802
        return provider.endpoint("jwks_uri")

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        # Only from the callback view, which passes the nonce it kept in the session: a
        # password form posted to a URL carrying ?code=…&state=… is not a provider's answer.
        if request is None or "nonce" not in kwargs or not provider.enabled():
            return None
        return super().authenticate(request, **kwargs)

    def _verify_jws(self, payload: Any, key: Any) -> dict[str, Any]:
        """The signature (the parent), then who issued the ID token and for whom, which
        the parent leaves unchecked."""
        claims = super()._verify_jws(payload, key)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if str(claims.get("iss", "")).rstrip("/") != settings.OIDC_ISSUER.rstrip("/"):
            raise SuspiciousOperation("The ID token was issued by another issuer.")
        if settings.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token is meant for another client.")
        return claims

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict[str, Any]:
        claims = super().get_userinfo(access_token, id_token, payload)
        # OpenID Connect Core 1.0, 5.3.2: the UserInfo answer must be about the ID token's subject.
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("The UserInfo subject is not the ID token's.")
        return claims

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        if not claims.get("email") or not is_verified(claims.get("email_verified")):
            refuse(self.request, Refusal.UNVERIFIED)
            return False
        return True

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        return self.UserModel.objects.filter(email__iexact=claims["email"])

    def create_user(self, claims: dict[str, Any]) -> User:
        """The first sign-in: an account with no password (the provider vouches for it);
        "Forgotten your password?" gives it one, should it ever need one."""
        name = str(claims.get("name") or "")[: User._meta.get_field("name").max_length]
        user = self.UserModel.objects.create_user(claims["email"], None, name=name)
        logger.info("account %s made on its first sign-in with %s", user.pk, provider.name())
        return user

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        if user.awaiting_confirmation:
            # Registered, the e-mailed link not yet followed: the provider has just
            # vouched for the address, which is all the link proves. Conditional, as
            # accounts.registration.finish; the link stops working (is_active is in its hash).
            activated = self.UserModel.objects.filter(pk=user.pk, awaiting_confirmation=True).update(
                is_active=True, awaiting_confirmation=False
            )
            if activated:
                user.is_active, user.awaiting_confirmation = True, False
        if not user.name and claims.get("name"):
            user.name = str(claims["name"])[: User._meta.get_field("name").max_length]
            user.save(update_fields=["name"])
        return user

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> User | None:
        user = super().get_or_create_user(access_token, id_token, payload)
        if user is not None and not self.user_can_authenticate(user):
            # None, not the user: Django then sends user_login_failed, as for a password.
            refuse(self.request, Refusal.INACTIVE)
            return None
        return user

    def get_user(self, user_id: Any) -> User | None:
        # Django's (an inactive account's session ends), not the parent's.
        return ModelBackend.get_user(self, user_id)
