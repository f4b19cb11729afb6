"""Workspaces and their members through the API. Someone outside a workspace gets a 404
for it and everything under it; a member whose role is too low gets a 403. The rules of
who may change what are the services' (``workspaces.services``), as on the site."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import TokenScopePermission

from .. import services
from ..models import Membership, Role, Workspace
from .permissions import NotLimitedToTemplates
from .serializers import MemberSerializer, TransferSerializer, WorkspaceChangeSerializer, WorkspaceSerializer

SLUG_REGEX = r"[-a-zA-Z0-9_]+"


class WorkspaceRefused(exceptions.APIException):
    """A ``WorkspaceError`` as an answer: 403 when the role is too low, else 409, with
    the service's code in the envelope and its message in the request's language."""

    def __init__(self, error: services.WorkspaceError) -> None:
        self.status_code = (
            status.HTTP_403_FORBIDDEN if error.code == "permission_denied" else status.HTTP_409_CONFLICT
        )
        self.envelope_code = error.code
        super().__init__(detail=str(error.message), code=error.code)


def needs(role: Role) -> str:
    return f"Needs the {role.value} role or higher."


class HoldsWorkspaceRole(permissions.BasePermission):
    """The role the view's ``required_roles`` names for the action, on the workspace."""

    message = _("Your role in this workspace does not allow this.")

    def has_object_permission(self, request: Request, view: Any, obj: Workspace) -> bool:
        role = getattr(view, "required_roles", {}).get(view.action)
        return role is None or obj.allows(request.user, role)


def workspaces_of(request: Request) -> Any:
    # By id (not a join on the memberships) so that the count counts every member.
    workspaces = Workspace.objects.where(request.user, Role.MEMBER).reachable_with(request.auth)
    return workspaces.annotate(member_count=Count("memberships"))


@extend_schema_view(
    list=extend_schema(
        summary="List your workspaces",
        description="The workspaces you are a member of (your personal one first), with your role in each.",
    ),
    create=extend_schema(
        summary="Create a team workspace",
        description="A team workspace, with you as its owner. Any signed-in user may create one.",
    ),
    retrieve=extend_schema(summary="Get a workspace", description=f"{needs(Role.MEMBER)}"),
    partial_update=extend_schema(
        request=WorkspaceChangeSerializer,
        responses=WorkspaceSerializer,
        summary="Change a workspace's settings",
        description=f"Its name and whether members see every job. {needs(Role.ADMIN)}",
    ),
    destroy=extend_schema(
        summary="Delete a team workspace",
        description=(
            "Only once it holds no template (deleted ones included): else a 409 `workspace_not_empty`. "
            f"A personal workspace is never deleted (409 `personal_workspace`). {needs(Role.OWNER)}"
        ),
    ),
)
class WorkspaceViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Workspaces: your personal one and the teams you are in."""

    serializer_class = WorkspaceSerializer
    permission_classes = (
        permissions.IsAuthenticated,
        TokenScopePermission,
        NotLimitedToTemplates,
        HoldsWorkspaceRole,
    )
    lookup_field = "slug"
    lookup_value_regex = SLUG_REGEX
    http_method_names = ("get", "post", "patch", "delete", "head", "options")
    required_roles = {"partial_update": Role.ADMIN}

    def get_queryset(self) -> Any:
        return workspaces_of(self.request)

    def get_serializer_class(self) -> Any:
        return WorkspaceChangeSerializer if self.action == "partial_update" else WorkspaceSerializer

    def perform_destroy(self, instance: Workspace) -> None:
        try:
            services.delete_workspace(instance, self.request.user)
        except services.WorkspaceError as error:
            raise WorkspaceRefused(error) from None

    @extend_schema(
        request=TransferSerializer,
        responses=WorkspaceSerializer,
        summary="Hand a workspace over",
        description=(
            "Make another member the owner; you stay on as an admin. "
            f"Not for a personal workspace (409 `personal_workspace`). {needs(Role.OWNER)}"
        ),
    )
    @action(detail=True, methods=["post"])
    def transfer(self, request: Request, slug: str | None = None) -> Response:
        workspace = self.get_object()
        payload = TransferSerializer(data=request.data, context={"workspace": workspace})
        payload.is_valid(raise_exception=True)
        try:
            services.transfer_ownership(workspace, request.user, payload.validated_data["member"])
        except services.WorkspaceError as error:
            raise WorkspaceRefused(error) from None
        return Response(self.get_serializer(workspace).data)


WORKSPACE_SLUG = OpenApiParameter(
    "slug", str, OpenApiParameter.PATH, description="The workspace's short name."
)


@extend_schema_view(
    list=extend_schema(
        parameters=[WORKSPACE_SLUG],
        summary="List a workspace's members",
        description=f"Each member and their role. {needs(Role.MEMBER)}",
    ),
    partial_update=extend_schema(
        parameters=[WORKSPACE_SLUG],
        summary="Change a member's role",
        description=(
            "Only the owner makes or unmakes admins; the owner's own role changes only by handing the "
            f"workspace over (POST workspaces/{{slug}}/transfer; 409 `use_transfer`, `owner_role`). "
            f"{needs(Role.ADMIN)}"
        ),
    ),
    destroy=extend_schema(
        parameters=[WORKSPACE_SLUG],
        summary="Remove a member, or leave",
        description=(
            "Removing yourself is leaving, which any member but the owner may do. Removing someone else "
            f"needs the admin role or higher (an admin: the owner only); the owner is never removed. "
            f"{needs(Role.MEMBER)}"
        ),
    ),
)
class WorkspaceMemberViewSet(
    mixins.ListModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """A workspace's members, by the id the list gives each."""

    serializer_class = MemberSerializer
    permission_classes = (permissions.IsAuthenticated, TokenScopePermission, NotLimitedToTemplates)
    lookup_value_regex = r"[0-9]+"
    http_method_names = ("get", "patch", "delete", "head", "options")

    def get_workspace(self) -> Workspace:
        workspace = getattr(self, "_workspace", None)
        if workspace is None:
            # Someone outside it: a 404, as for the workspace itself.
            workspace = get_object_or_404(
                Workspace.objects.where(self.request.user, Role.MEMBER).reachable_with(self.request.auth),
                slug=self.kwargs["slug"],
            )
            self._workspace = workspace
        return workspace

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return self.get_workspace().memberships.select_related("user").order_by("user__email")

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # A PATCH must name the role: the one thing a membership has to change.
        membership = self.get_object()
        serializer = self.get_serializer(membership, data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.change_role(
                self.get_workspace(), request.user, membership, Role(serializer.validated_data["role"])
            )
        except services.WorkspaceError as error:
            raise WorkspaceRefused(error) from None
        return Response(self.get_serializer(membership).data)

    def perform_destroy(self, instance: Membership) -> None:
        try:
            services.remove_member(self.get_workspace(), self.request.user, instance)
        except services.WorkspaceError as error:
            raise WorkspaceRefused(error) from None
