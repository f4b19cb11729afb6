"""DRF authentication: personal API tokens (``Authorization: Bearer pl_…``) and JWTs,
both answered from a short-lived principal cache (``accounts.principals``) rather than
a database query per request."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from . import principals
from .models import TOKEN_PREFIX, PersonalToken, hash_token
from .refresh_tokens import FAMILY_CLAIM


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Any) -> tuple[Any, PersonalToken] | None:
        header = authentication.get_authorization_header(request).split()
        if len(header) != 2 or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        raw = header[1].decode(errors="replace")
        if not raw.startswith(TOKEN_PREFIX):
            return None  # a JWT: the next authenticator's
        key = principals.token_key(hash_token(raw))
        token = principals.recall(key)
        if token is None:
            token = PersonalToken.objects.select_related("user").filter(key_hash=hash_token(raw)).first()
            if token is not None and token.is_usable and token.user.is_active:
                principals.remember(key, token, _seconds_left(token))
        # Checked on every use, cached or not: expiry needs no invalidation.
        if token is None or not token.is_usable or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("This API token is invalid, expired or revoked."))
        token.touch()
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


def _seconds_left(token: PersonalToken) -> float:
    if token.expires_at is None:
        return principals.PRINCIPAL_CACHE_SECONDS
    return (token.expires_at - timezone.now()).total_seconds()


class CachedUserJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication, with the token's user read from the principal cache."""

    def get_user(self, validated_token: Any) -> Any:
        user_id = validated_token.get(jwt_settings.USER_ID_CLAIM)
        if user_id is None:
            return super().get_user(validated_token)  # its own error for a token without one
        key = principals.user_key(user_id)
        family = validated_token.get(FAMILY_CLAIM)
        if family:
            user, revoked = principals.recall_with_family(key, str(family))
            if revoked:
                raise exceptions.AuthenticationFailed(
                    _("This token was revoked: its refresh token was used twice. Sign in again."),
                    code="token_not_valid",
                )
        else:
            user = principals.recall(key)
        if user is None:
            user = super().get_user(validated_token)  # refuses unknown and inactive users
            principals.remember(key, user)
            return user
        if not user.is_active or (
            jwt_settings.CHECK_REVOKE_TOKEN
            and validated_token.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password)
        ):
            return super().get_user(validated_token)  # refuses with simplejwt's own messages
        return user
