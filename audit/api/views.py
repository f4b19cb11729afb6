from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from promptlab.api import NewestFirstCursorPagination

from ..access import workspace_with_readable_log
from ..forms import AuditFilter
from ..models import Action, AuditEntry
from .serializers import AuditEntrySerializer

FILTER_PARAMETERS = ("action", "person", "date_from", "date_to")


@extend_schema(
    summary="List a workspace's audit log",
    description=(
        "Who did what in the workspace, when and from which address, newest first. "
        "Needs the admin role or higher."
    ),
    parameters=[
        OpenApiParameter(
            "action", OpenApiTypes.STR, enum=Action.values, description="Only this kind of event."
        ),
        OpenApiParameter(
            "person", OpenApiTypes.EMAIL, description="Only what this person did (their e-mail)."
        ),
        OpenApiParameter(
            "date_from", OpenApiTypes.DATE, description="From this day on (the site's time zone)."
        ),
        OpenApiParameter("date_to", OpenApiTypes.DATE, description="Up to and including this day."),
    ],
)
class WorkspaceAuditLogView(generics.ListAPIView):
    """A workspace's audit log (read only)."""

    serializer_class = AuditEntrySerializer
    pagination_class = NewestFirstCursorPagination

    def get_queryset(self) -> Any:
        workspace = workspace_with_readable_log(self.request.user, self.kwargs["slug"], self.request.auth)
        entries = AuditEntry.objects.in_workspace(workspace)
        # The page's form takes an empty field as no filter; a script's empty parameter is
        # a mistake the document forbids (none of them may be empty).
        empty = [name for name in FILTER_PARAMETERS if self.request.query_params.get(name) == ""]
        if empty:
            message = _("Give a value, or leave the parameter out.")
            raise serializers.ValidationError({name: [message] for name in empty})
        filters = AuditFilter(self.request.query_params, entries=entries)
        if not filters.is_valid():
            raise serializers.ValidationError(filters.errors)
        return filters.apply(entries)
