"""JWT refresh tokens as families, refused after a password change.

Every sign-in starts a *family*: a claim that rotation carries from each refresh token
to the one it is exchanged for. A refresh token is good once. If one that was already
exchanged comes back, two parties hold the same line of tokens (one of them stole it),
and nobody can tell which is which: the whole family still outstanding is revoked,
so the thief's descendant dies with the owner's (OAuth 2.0 Security BCP, refresh token
rotation); the family's access tokens are refused too, through the principal cache. A
password change revokes every refresh token of the account, and a refresh token issued
before the change is refused by its password claim as well.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from . import principals
from .signals import signed_in_through_api

FAMILY_CLAIM = "family"


class FamilyTokenObtainPairSerializer(TokenObtainPairSerializer):
    """simplejwt's sign-in, starting a new refresh-token family."""

    @classmethod
    def get_token(cls, user: Any) -> RefreshToken:
        token = super().get_token(user)
        token[FAMILY_CLAIM] = uuid.uuid4().hex
        return token  # type: ignore[return-value]

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        data = super().validate(attrs)  # raises unless the password is right
        signed_in_through_api.send(sender=type(self), request=self.context.get("request"), user=self.user)
        return data


class FamilyTokenRefreshSerializer(TokenRefreshSerializer):
    """simplejwt's rotation, refusing stale tokens and revoking a reused token's family."""

    default_error_messages = {
        "stale": _("This refresh token is no longer valid: the password changed or the account is inactive."),
        "reused": _("This refresh token was already used or revoked. Sign in again."),
    }

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        raw = attrs["refresh"]
        try:
            refresh = self.token_class(raw)
        except TokenError:
            if not _already_exchanged(raw):
                raise
            revoke_family_of(raw)
            raise exceptions.AuthenticationFailed(self.error_messages["reused"], "token_not_valid") from None
        user = get_user_model().objects.filter(pk=refresh.get(jwt_settings.USER_ID_CLAIM)).first()
        if (
            user is None
            or not user.is_active
            or refresh.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password)
        ):
            raise exceptions.AuthenticationFailed(self.error_messages["stale"], "token_not_valid")
        # get_or_create: of two concurrent exchanges of one token, only one creates the row.
        _blacklisted, created = refresh.blacklist()  # type: ignore[misc]
        if not created:
            revoke_family_of(raw)
            raise exceptions.AuthenticationFailed(self.error_messages["reused"], "token_not_valid")
        data = {"access": str(refresh.access_token)}
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        refresh.outstand()
        data["refresh"] = str(refresh)
        return data


def _verified_payload(raw: str) -> dict[str, Any] | None:
    """The claims of a refresh token we signed and that has not expired, else None."""
    try:
        payload = token_backend.decode(raw, verify=True)
    except TokenBackendError:
        return None
    return payload if payload.get(jwt_settings.TOKEN_TYPE_CLAIM) == "refresh" else None


def _already_exchanged(raw: str) -> bool:
    payload = _verified_payload(raw)
    return payload is not None and (
        BlacklistedToken.objects.filter(token__jti=payload.get(jwt_settings.JTI_CLAIM)).exists()
    )


def revoke_family_of(raw: str) -> int:
    """Blacklist every outstanding refresh token of ``raw``'s family; how many."""
    payload = _verified_payload(raw)
    if payload is None or not payload.get(FAMILY_CLAIM):
        return 0
    family = payload[FAMILY_CLAIM]
    principals.forget_family(family, jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds())
    outstanding = _outstanding(payload.get(jwt_settings.USER_ID_CLAIM))
    members = []
    for token in outstanding:
        with contextlib.suppress(TokenBackendError):  # our own rows: no signature check needed
            if token_backend.decode(token.token, verify=False).get(FAMILY_CLAIM) == family:
                members.append(token)
    return _blacklist(members)


def revoke_all_for(user_id: Any) -> int:
    """Blacklist every outstanding refresh token of the account (a password change)."""
    return _blacklist(list(_outstanding(user_id)))


def _outstanding(user_id: Any) -> Any:
    return OutstandingToken.objects.filter(
        user_id=user_id, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    ).only("id", "token")


def _blacklist(tokens: list[OutstandingToken]) -> int:
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=t) for t in tokens], ignore_conflicts=True)
    return len(tokens)
