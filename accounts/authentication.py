"""DRF authentication by personal API token (``Authorization: Bearer pl_…``)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from .models import TOKEN_PREFIX, PersonalToken, hash_token


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Any) -> tuple[Any, PersonalToken] | None:
        header = authentication.get_authorization_header(request).split()
        if len(header) != 2 or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        raw = header[1].decode(errors="replace")
        if not raw.startswith(TOKEN_PREFIX):
            return None  # a JWT: the next authenticator's
        token = PersonalToken.objects.select_related("user").filter(key_hash=hash_token(raw)).first()
        if token is None or not token.is_usable or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("This API token is invalid, expired or revoked."))
        token.touch()
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'
