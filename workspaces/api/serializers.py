from __future__ import annotations

from typing import Any

from django.db import IntegrityError
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from promptlab.api import StrictFieldsMixin

from .. import services
from ..models import Membership, Role, Workspace, roles_of


class JSONBooleanField(serializers.BooleanField):
    """true or false as JSON has them: not the strings and numbers DRF also takes."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """An integer sent as a JSON number, as the document says: DRF also took "7" and true."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str | bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class WorkspaceSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A workspace you are a member of, with your role in it."""

    slug = serializers.SlugField(
        max_length=Workspace._meta.get_field("slug").max_length,
        required=False,
        validators=[
            UniqueValidator(
                queryset=Workspace.objects.all(),
                message=_("A workspace with this short name already exists."),
            )
        ],
        help_text=_(
            "Used in addresses and by the API: letters, digits, hyphens and underscores. Left out: made "
            "from the name. It can't be changed."
        ),
    )
    members_see_all_jobs = JSONBooleanField(
        required=False,
        help_text=Workspace._meta.get_field("members_see_all_jobs").help_text,
    )
    review_required = JSONBooleanField(
        required=False,
        help_text=Workspace._meta.get_field("review_required").help_text,
    )
    role = serializers.SerializerMethodField(help_text=_("Your role in the workspace."))
    member_count = serializers.IntegerField(read_only=True)
    links = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = (
            "slug",
            "name",
            "personal",
            "role",
            "members_see_all_jobs",
            "review_required",
            "member_count",
            "created_at",
            "links",
        )
        read_only_fields = ("personal", "created_at")

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices))
    def get_role(self, obj: Workspace) -> str:
        # Only a member is ever shown a workspace.
        return roles_of(self.context["request"].user)[obj.pk].value

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_links(self, obj: Workspace) -> dict[str, str]:
        return {
            "self": reverse("api:workspace-detail", args=[obj.slug]),
            "members": reverse("api:workspace-member-list", args=[obj.slug]),
            "templates": f"{reverse('api:template-list')}?workspace={obj.slug}",
        }

    def create(self, validated: dict[str, Any]) -> Workspace:
        try:
            workspace = services.create_team_workspace(
                self.context["request"].user, validated["name"], validated.get("slug", "")
            )
        except IntegrityError:  # the same slug taken between the check and the insert
            raise serializers.ValidationError(
                {"slug": [_("A workspace with this short name already exists.")]}
            ) from None
        settings = {
            key: validated[key] for key in ("members_see_all_jobs", "review_required") if key in validated
        }
        if settings:
            services.change_settings(workspace, self.context["request"].user, **settings)
        workspace.member_count = 1
        return workspace

    def update(self, workspace: Workspace, validated: dict[str, Any]) -> Workspace:
        keys = ("name", "members_see_all_jobs", "review_required")
        services.change_settings(
            workspace,
            self.context["request"].user,
            **{key: validated[key] for key in keys if key in validated},
        )
        return workspace


class WorkspaceChangeSerializer(WorkspaceSerializer):
    """A workspace's settings, as an admin changes them: its short name stays."""

    slug = serializers.SlugField(read_only=True)


class MemberSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A member of a workspace and their role (written: the role alone)."""

    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", read_only=True)
    role = serializers.ChoiceField(choices=Role.choices, help_text=_("The member's role."))

    class Meta:
        model = Membership
        fields = ("id", "email", "name", "role", "joined_at")
        read_only_fields = ("id", "joined_at")


class TransferSerializer(StrictFieldsMixin, serializers.Serializer):
    """Who becomes the workspace's owner."""

    member = StrictIntegerField(
        min_value=1,
        max_value=2**63 - 1,
        help_text=_("The member (their id in the member list) who becomes the owner."),
    )

    def validate_member(self, value: int) -> Membership:
        workspace = self.context["workspace"]
        membership = workspace.memberships.select_related("user").filter(pk=value).first()
        if membership is None:
            raise serializers.ValidationError(_("No member of this workspace has this id."))
        return membership
