from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import (
    MinimumLengthValidator,
    get_default_password_validators,
    validate_password,
)
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from promptlab.api import StrictFieldsMixin

from ..models import PersonalToken, User


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "email", "name", "plan", "date_joined")
        read_only_fields = fields


def _password_min_length() -> int | None:
    """The length AUTH_PASSWORD_VALIDATORS demand, so the OpenAPI document says it too."""
    for validator in get_default_password_validators():
        if isinstance(validator, MinimumLengthValidator):
            return validator.min_length
    return None


class RegisterSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    password = serializers.CharField(
        write_only=True, style={"input_type": "password"}, min_length=_password_min_length()
    )

    class Meta:
        model = User
        fields = ("email", "name", "password")
        # Whether an address is taken is never said: accounts.registration e-mails it.
        extra_kwargs = {"email": {"validators": []}}

    def validate_email(self, value: str) -> str:
        return value.lower()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            validate_password(attrs["password"], User(email=attrs["email"], name=attrs.get("name", "")))
        except Exception as exc:  # django.core.exceptions.ValidationError
            raise serializers.ValidationError(
                {"password": list(getattr(exc, "messages", [str(exc)]))}
            ) from None
        return attrs


class RegistrationAcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text=_("What happens next: the same answer for every address."))


class PersonalTokenSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    token = serializers.SerializerMethodField(
        help_text=_("The token itself: shown only in the creation response.")
    )

    class Meta:
        model = PersonalToken
        fields = ("id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at", "token")
        read_only_fields = ("id", "prefix", "created_at", "last_used_at", "revoked_at", "token")

    def get_token(self, obj: PersonalToken) -> str | None:
        return self.context.get("raw_token")
