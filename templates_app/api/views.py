from __future__ import annotations

import json
from typing import Any

from django.core.validators import slug_re
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import TokenScopePermission
from promptlab.api import Conflict, SafeJSONParser
from workspaces.models import Workspace

from ..formats import DEFAULT_FORMAT, FORMATS, FormatError
from ..formats.service import export_template, import_template, read_file
from ..forms import TemplateListFilter
from ..models import ReviewError, Template
from .permissions import ManagesTemplateOrReadOnly
from .serializers import (
    ReviewRequestSerializer,
    TemplateImportResultSerializer,
    TemplateImportSerializer,
    TemplateSavedSerializer,
    TemplateSerializer,
    TemplateVersionSerializer,
    VersionWithReviewSerializer,
)

WORKSPACE_SLUG_MAX_LENGTH = Workspace._meta.get_field("slug").max_length


class TextFileRenderer(BaseRenderer):
    """Lets a client that asks for the file's type (not JSON) reach the export; errors stay JSON."""

    media_type = "text/markdown"
    format = "md"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return json.dumps(data, ensure_ascii=False).encode() if not isinstance(data, bytes) else data


class PlainTextFileRenderer(TextFileRenderer):
    media_type = "text/plain"
    format = "txt"


class FileContentNegotiation(DefaultContentNegotiation):
    """On the export, ``?format=`` names the file format, not one of DRF's renderers."""

    class settings:  # noqa: N801 - stands in for api_settings
        URL_FORMAT_OVERRIDE = None


@extend_schema_view(
    list=extend_schema(
        summary="List templates",
        description="The templates you may see, by name; `q` and `tag` filter them as the site's lists do.",
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "maxLength": 200, "pattern": r"^[^\x00]*$"},
                description="Search names, descriptions and tags (no NUL character).",
            ),
            OpenApiParameter(
                "tag",
                {"type": "string", "pattern": r"^[-a-zA-Z0-9_]*$", "maxLength": 50},
                description="Only templates with this tag (its slug).",
            ),
            OpenApiParameter(
                "workspace",
                {"type": "string", "pattern": r"^[-a-zA-Z0-9_]*$", "maxLength": 50},
                description="Only the templates of this workspace (its short name; empty: every workspace).",
            ),
        ],
    ),
    destroy=extend_schema(
        summary="Delete a template",
        description=(
            "Delete a template you own. Deletion is soft: nobody finds it any more (here or on the site), "
            "its jobs keep their history, and you can restore it from the site's My templates page."
        ),
    ),
    create=extend_schema(summary="Create a template"),
    retrieve=extend_schema(summary="Get a template"),
    partial_update=extend_schema(summary="Change a template"),
    versions=extend_schema(summary="List a template's versions"),
    input_schema=extend_schema(summary="Get a template's input JSON Schema"),
    import_file=extend_schema(summary="Import a template file"),
    export=extend_schema(summary="Export a template as a file"),
)
class TemplateViewSet(viewsets.ModelViewSet):
    """Prompt templates: the ones you may see (yours, signed-in users', public ones)."""

    serializer_class = TemplateSerializer
    permission_classes = (permissions.IsAuthenticated, TokenScopePermission, ManagesTemplateOrReadOnly)
    lookup_field = "slug"
    # A slug's characters only: anything else (a NUL byte, which PostgreSQL refuses
    # outright) is a 404 from the router, before any query.
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    http_method_names = ("get", "post", "patch", "delete", "head", "options")

    def get_queryset(self) -> Any:
        templates = (
            Template.objects.visible_to(self.request.user)
            .reachable_with(self.request.auth)
            .select_related("published_version", "owner", "workspace")
            .with_tag_names()
            .order_by("name")
        )
        if self.action == "list":
            # The same filters as the site's lists: ?q= searches names, descriptions and tags.
            filters = TemplateListFilter(self.request.query_params)
            if not filters.is_valid():  # a NUL byte, which PostgreSQL refuses, or a tag that is no slug
                raise serializers.ValidationError(filters.errors)
            templates = filters.apply(templates)
            workspace = self.request.query_params.get("workspace", "")
            if workspace:
                if not slug_re.match(workspace) or len(workspace) > WORKSPACE_SLUG_MAX_LENGTH:
                    raise serializers.ValidationError({"workspace": [_("Enter a workspace's short name.")]})
                # Only what the caller may see anyway: the same empty list for a workspace
                # they are not in as for one that does not exist.
                templates = templates.filter(workspace__slug=workspace)
        return templates

    @extend_schema(responses={201: TemplateSavedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create a template you own; `warnings` lists the parameters its prompt never uses."""
        response = super().create(request, *args, **kwargs)
        return self._with_warnings(response)

    @extend_schema(responses={200: TemplateSavedSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change a template you own (content makes a new version); `warnings` as on create."""
        response = super().partial_update(request, *args, **kwargs)
        return self._with_warnings(response)

    def perform_create(self, serializer: Any) -> None:
        serializer.save()
        self.saved = serializer.saved

    def perform_update(self, serializer: Any) -> None:
        serializer.save()
        self.saved = serializer.saved

    def _with_warnings(self, response: Response) -> Response:
        # The version the save left published (new, or the unchanged one): its warnings.
        response.data = {
            **response.data,
            "warnings": self.saved.version.warnings,
            "proposed": self.saved.proposed,
        }
        return response

    def perform_destroy(self, instance: Template) -> None:
        """Soft: the template is hidden everywhere, its jobs keep their history, and its
        managers can restore it from the site's My templates page."""
        instance.soft_delete()

    @extend_schema(responses=TemplateVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, slug: str | None = None) -> Response:
        """The template's versions, newest first: every one for its managers (its workspace's
        editors, and staff), only the published one for anyone else who can see the template."""
        template = self.get_object()
        versions = (
            template.versions.visible_to(request.user)
            .select_related("created_by", "template")
            .order_by("-number")
        )
        return Response(TemplateVersionSerializer(versions, many=True).data)

    @extend_schema(
        summary="Review a version",
        request=ReviewRequestSerializer,
        responses={200: VersionWithReviewSerializer},
        parameters=[OpenApiParameter("number", OpenApiTypes.INT, OpenApiParameter.PATH)],
        description=(
            "One step of a version's review, in a workspace that reviews before publishing: any "
            "editor may `propose` or `comment`; `approve` (which publishes) and `request_changes` "
            "need the admin role or higher, and nobody reviews their own proposal (403). A version "
            "not waiting for review answers 409. The answer is the version with every step so far."
        ),
    )
    @action(
        detail=True, methods=["post"], url_path=r"versions/(?P<number>[0-9]{1,9})/review", url_name="review"
    )
    def review(self, request: Request, slug: str | None = None, number: str | None = None) -> Response:
        """Propose, comment on, approve or ask for changes to one version."""
        template = self.get_object()  # its managers only (ManagesTemplateOrReadOnly): a 403 for readers
        version = template.versions.filter(number=int(number or 0)).first()
        if version is None:
            raise exceptions.NotFound()
        payload = ReviewRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            data = payload.validated_data
            template.take_review_step(version, request.user, data["action"], data["comment"])
        except ReviewError as exc:
            if exc.code == "comment_required":
                raise serializers.ValidationError({"comment": [str(exc.message)]}) from None
            if exc.code in ("permission_denied", "own_proposal"):
                raise exceptions.PermissionDenied(str(exc.message)) from None
            raise Conflict(str(exc.message)) from None
        version = template.versions.select_related("created_by", "template").get(pk=version.pk)
        return Response(VersionWithReviewSerializer(version).data)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    # Not named `schema`: that attribute is the view's OpenAPI inspector.
    @action(detail=True, methods=["get"], url_path="schema", url_name="schema")
    def input_schema(self, request: Request, slug: str | None = None) -> Response:
        """The JSON Schema of the template's inputs, derived from its parameter schema."""
        template = self.get_object()
        if template.published_version is None:
            return Response({"type": "object", "properties": {}})
        return Response(template.published_version.schema.json_schema())

    @extend_schema(
        request={
            "multipart/form-data": TemplateImportSerializer,
            "application/json": TemplateImportSerializer,
        },
        responses={201: TemplateImportResultSerializer},
        description=(
            "Import a template file as a new template you own: PromptLab Markdown (.md), Prompd (.prmd), "
            "Prompty (.prompty) or Dotprompt (.prompt). Upload it as `file` (multipart) or send its text as "
            "`content` with `format`. `warnings` lists what the file said that PromptLab can't hold; a "
            "broken file is a 400 naming each problem, and nothing is saved."
        ),
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[SafeJSONParser, MultiPartParser],
    )
    def import_file(self, request: Request) -> Response:
        """Import a template file (PromptLab, Prompd, Prompty or Dotprompt) as a new template."""
        payload = TemplateImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        field = "file" if "file" in data else "content"
        try:
            if "file" in data:
                text = read_file(data["file"])
                filename = data["file"].name
            else:
                text, filename = data["content"], data.get("filename")
            template, warnings = import_template(
                text,
                owner=request.user,
                format_name=data.get("format"),
                filename=filename,
                slug=data.get("slug"),
                visibility=data.get("visibility"),
            )
        except FormatError as exc:
            if data.get("slug") and Template.all_objects.filter(slug=data["slug"]).exists():
                raise Conflict(_("A template with this slug already exists.")) from None
            raise serializers.ValidationError({field: exc.errors}) from None
        body = TemplateSerializer(template, context=self.get_serializer_context()).data
        return Response({**body, "warnings": warnings}, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                enum=list(FORMATS),
                default=DEFAULT_FORMAT,
                description="The file format.",
            )
        ],
        responses={
            (200, "text/markdown"): OpenApiResponse(
                OpenApiTypes.STR,
                description=(
                    "The published version as a file (Content-Disposition: attachment). What the format "
                    "can't hold is listed as YAML comments at the top and in the X-PromptLab-Warnings header "
                    "(a JSON list)."
                ),
            ),
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="A Dotprompt file."),
        },
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[JSONRenderer, TextFileRenderer, PlainTextFileRenderer],
        content_negotiation_class=FileContentNegotiation,
    )
    def export(self, request: Request, slug: str | None = None) -> HttpResponse:
        """The template's published version as a file in the chosen format."""
        template = self.get_object()
        format_name = request.query_params.get("format", DEFAULT_FORMAT)  # "" is no format
        if format_name not in FORMATS:
            raise serializers.ValidationError(
                {"format": [_("Unknown format. Known: %(names)s.") % {"names": ", ".join(FORMATS)}]}
            )
        try:
            exported = export_template(template, format_name)
        except FormatError as exc:
            raise Conflict(" ".join(exc.errors)) from None
        return exported.as_response()
