"""The invitations API: a team workspace's admins invite, list and revoke; the invitee,
signed in with the invited address, accepts or declines with the link's token."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import limited_to_templates
from promptlab.api import StrictFieldsMixin, error_body

from .. import invitations
from ..invitations import InvitationError
from ..models import INVITABLE_ROLES, Invitation, Role, Workspace
from .permissions import NotLimitedToTemplates

ERROR_REFERENCE = {"$ref": "#/components/schemas/ErrorEnvelope"}
# The status of each refusal the invitation functions raise.
STATUS_OF_ERROR = {
    "permission_denied": 403,
    "invitation_for_another_address": 403,
    "not_found": 404,
    "invitation_used": 409,
    "invitation_expired": 410,
    "invitation_revoked": 410,
    "invitation_declined": 410,
}


def _refusal(error: InvitationError) -> Response:
    """A refusal in the envelope; one that names its field is a field's error (400, or
    403 when the role is above the inviter's rights), as validation errors are."""
    status_code = STATUS_OF_ERROR.get(error.code, 400)
    code = error.code if status_code != 400 else "validation_error"
    if code == "not_found":
        raise exceptions.NotFound()
    details = {error.field: [str(error.message)]} if error.field else {}
    if status_code == 400:
        message = _("Some fields are not valid: %(fields)s.") % {"fields": ", ".join(details)}
    else:
        message = str(error.message)
    return Response(error_body(code, message, details), status=status_code)


class InvitationSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=[(role.value, role.label) for role in INVITABLE_ROLES])
    state = serializers.CharField(read_only=True, help_text="pending or expired (the others are not listed).")
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = ("id", "email", "role", "state", "invited_by", "created_at", "expires_at")
        read_only_fields = ("id", "state", "invited_by", "created_at", "expires_at")
        extra_kwargs = {
            "email": {"help_text": "The address invited (stored lower-cased)."},
            "created_at": {"help_text": "When the invitation was (last) sent."},
        }


class AcceptSerializer(StrictFieldsMixin, serializers.Serializer):
    token = serializers.CharField(max_length=100, help_text="The token at the end of the e-mailed link.")


class MembershipSerializer(serializers.Serializer):
    workspace = serializers.SlugField(source="workspace.slug", help_text="The workspace joined.")
    name = serializers.CharField(source="workspace.name")
    role = serializers.ChoiceField(choices=Role.choices, help_text="Your role there.")


class WorkspaceInvitationsMixin:
    def get_workspace(self) -> Workspace:
        """404 for a non-member (and a personal workspace: it invites nobody), 403 for a
        member below admin."""
        request = self.request  # type: ignore[attr-defined]
        workspace = get_object_or_404(
            Workspace.objects.of(request.user).reachable_with(request.auth),
            slug=self.kwargs["slug"],
            personal=False,  # type: ignore[attr-defined]
        )
        if limited_to_templates(request.auth):
            raise exceptions.PermissionDenied(NotLimitedToTemplates.message)
        if not workspace.allows(request.user, Role.ADMIN):
            raise exceptions.PermissionDenied(_("Your role in this workspace does not allow this."))
        return workspace


class WorkspaceInvitationsView(WorkspaceInvitationsMixin, generics.GenericAPIView):
    serializer_class = InvitationSerializer
    pagination_class = None

    @extend_schema(
        summary="A workspace's open invitations",
        description="Needs the **admin** role (or owner) in the team workspace. Lists the invitations "
        "neither accepted, declined nor revoked, newest first; expired ones too (inviting the address "
        "again renews them).",
        responses=InvitationSerializer(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        workspace = self.get_workspace()
        rows = Invitation.objects.open().filter(workspace=workspace).select_related("invited_by")
        return Response(self.get_serializer(rows, many=True).data)

    @extend_schema(
        summary="Invite someone by e-mail",
        description="Needs the **admin** role; inviting as `admin` needs the **owner**'s (403 otherwise, "
        "naming `role`). E-mails the address a link, in your language, that works once for "
        "`INVITATION_DAYS` days. Inviting an address again sends a new link (the old one stops "
        "working) with the role now given. The answer is the same whether or not the address has an "
        "account; an address that is already a member is a 400 naming `email`.",
        request=InvitationSerializer,
        responses={201: InvitationSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        workspace = self.get_workspace()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            invitation = invitations.invite(
                request._request, workspace, request.user, data["email"], data["role"]
            )
        except InvitationError as error:
            return _refusal(error)
        return Response(self.get_serializer(invitation).data, status=status.HTTP_201_CREATED)


class WorkspaceInvitationView(WorkspaceInvitationsMixin, generics.GenericAPIView):
    serializer_class = InvitationSerializer

    @extend_schema(
        summary="Revoke an invitation",
        description="Needs the **admin** role. Its link stops working at once. An invitation already "
        "accepted is a 409 (`invitation_used`); one declined or revoked a 410.",
        responses={
            204: None,
            410: OpenApiResponse(ERROR_REFERENCE, description="Declined or revoked already."),
        },
    )
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        workspace = self.get_workspace()
        invitation = get_object_or_404(Invitation, workspace=workspace, pk=pk)
        try:
            invitations.revoke(workspace, request.user, invitation)
        except InvitationError as error:
            return _refusal(error)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationAnswerView(generics.GenericAPIView):
    """The invitee's answer, sent with the link's token; refusals as ``_refusal`` says."""

    serializer_class = AcceptSerializer

    def answer(self, token: str, user: Any) -> Response:
        raise NotImplementedError

    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            return self.answer(serializer.validated_data["token"], request.user)
        except InvitationError as error:
            return _refusal(error)


CLOSED = OpenApiResponse(ERROR_REFERENCE, description="The invitation expired, was revoked or declined.")


@extend_schema_view(
    post=extend_schema(
        summary="Accept an invitation",
        description="Needs no role: any signed-in user whose address is the one invited. Makes you a "
        "member of the workspace with the role offered (a member already keeps their role). Refused "
        "with 403 `invitation_for_another_address` for another account, 409 `invitation_used` once "
        "accepted, 410 `invitation_expired`, `invitation_revoked` or `invitation_declined`, and 404 "
        "for a token that is no invitation's.",
        responses={200: MembershipSerializer, 410: CLOSED},
    )
)
class AcceptInvitationView(InvitationAnswerView):
    def answer(self, token: str, user: Any) -> Response:
        return Response(MembershipSerializer(invitations.accept(token, user)).data)


@extend_schema_view(
    post=extend_schema(
        summary="Decline an invitation",
        description="Needs no role: any signed-in user whose address is the one invited. The link "
        "stops working. Refused as accepting is: 403 `invitation_for_another_address`, 409 "
        "`invitation_used`, 410 `invitation_expired`, `invitation_revoked` or `invitation_declined`, "
        "404 for a token that is no invitation's.",
        responses={204: None, 410: CLOSED},
    )
)
class DeclineInvitationView(InvitationAnswerView):
    def answer(self, token: str, user: Any) -> Response:
        invitations.decline(token, user)
        return Response(status=status.HTTP_204_NO_CONTENT)
