"""How the API's authentication classes appear in the OpenAPI document (drf-spectacular
finds these extensions once this module is imported: AccountsConfig.ready)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import (
    SimpleJWTScheme,
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
)
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class CachedUserJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.CachedUserJWTAuthentication"


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.PersonalTokenAuthentication"
    name = "personalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A personal API token (`pl_…`), created on the account page or with POST "
                "auth/tokens: `Authorization: Bearer pl_…`."
            ),
        }


# simplejwt's serializers, subclassed for refresh-token families (accounts.refresh_tokens),
# described as drf-spectacular describes the originals, under the same names.
class FamilyTokenObtainPairSerializerExtension(TokenObtainPairSerializerExtension):
    target_class = "accounts.refresh_tokens.FamilyTokenObtainPairSerializer"

    def get_name(self, auto_schema: Any, direction: str) -> str:
        return "TokenObtainPair"


class FamilyTokenRefreshSerializerExtension(TokenRefreshSerializerExtension):
    target_class = "accounts.refresh_tokens.FamilyTokenRefreshSerializer"

    def get_name(self, auto_schema: Any, direction: str) -> str:
        return "TokenRefresh"
