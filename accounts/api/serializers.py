from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from promptlab.api import StrictFieldsMixin

from ..models import PersonalToken, TokenScope, User

SLUG = re.compile(r"[-a-zA-Z0-9_]+")


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "email", "name", "plan", "date_joined")
        read_only_fields = fields


PASSWORD_ON_CONFIRMATION = _(
    "Registration takes no password: it is chosen on the page that the link in the e-mail opens."
)


class RegisterSerializer(StrictFieldsMixin, serializers.Serializer):
    """The address only. The password is chosen on the page the e-mailed link opens, by
    whoever reads the mailbox (accounts.registration says why); a ``password`` sent here
    is refused with that reason rather than silently dropped."""

    email = serializers.EmailField(max_length=User._meta.get_field("email").max_length)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise serializers.ValidationError({"password": [PASSWORD_ON_CONFIRMATION]})
        return super().to_internal_value(data)

    def validate_email(self, value: str) -> str:
        return value.lower()


class RegistrationAcceptedSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text=_("What happens next: the same answer for every address."))


class TemplateSlugField(serializers.SlugRelatedField):
    """A template by its slug; anything that is no slug (a NUL character, which PostgreSQL
    refuses in a query with an error, not a miss) is unknown before any query."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not SLUG.fullmatch(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=str(data)[:100])
        return super().to_internal_value(data)


class WorkspaceSlugField(TemplateSlugField):
    """A workspace by its slug, or null; an empty text is neither (DRF's related fields
    take it for null)."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data == "":
            self.fail("does_not_exist", slug_name=self.slug_field, value="")
        return super().run_validation(data)


class PersonalTokenSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    token = serializers.SerializerMethodField(
        help_text=_("The token itself: shown only in the creation response.")
    )
    templates = TemplateSlugField(
        many=True,
        slug_field="slug",
        queryset=PersonalToken.objects.none(),  # the caller's runnable templates: see get_fields
        required=False,
        help_text=_(
            "Slugs of the templates the token may see and run (the API and the MCP server); "
            "empty or left out: every template its owner may."
        ),
    )

    workspace = WorkspaceSlugField(
        slug_field="slug",
        queryset=PersonalToken.objects.none(),  # the caller's workspaces: see get_fields
        required=False,
        allow_null=True,
        help_text=_(
            "The slug of the one workspace whose templates and jobs the token reaches; null or left "
            "out: every workspace of its owner's."
        ),
    )
    scope = serializers.ChoiceField(
        choices=TokenScope.choices,
        default=TokenScope.FULL,
        help_text=_(
            "`read`: GET requests only. `run`: also generate, batches, and cancelling or retrying "
            "runs. `full` (the default): everything its owner may do."
        ),
    )

    class Meta:
        model = PersonalToken
        fields = (
            "id",
            "name",
            "prefix",
            "created_at",
            "last_used_at",
            "expires_at",
            "revoked_at",
            "templates",
            "workspace",
            "scope",
            "token",
        )
        read_only_fields = ("id", "prefix", "created_at", "last_used_at", "revoked_at", "token")

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["templates"].child_relation.queryset = PersonalToken.template_choices(request.user)
            fields["workspace"].queryset = PersonalToken.workspace_choices(request.user)
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        workspace, templates = attrs.get("workspace"), attrs.get("templates") or ()
        outside = [t.slug for t in templates if workspace is not None and t.workspace_id != workspace.pk]
        if outside:
            raise serializers.ValidationError(
                {"templates": [_("Not in the chosen workspace: %(names)s.") % {"names": ", ".join(outside)}]}
            )
        return attrs

    def get_token(self, obj: PersonalToken) -> str | None:
        return self.context.get("raw_token")
