from __future__ import annotations

import json
from typing import Any

from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import get_script_prefix
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from jobs.api.serializers import JobSerializer
from jobs.models import Job
from jobs.services import SubmissionError, submit_generation
from promptlab.api import Conflict, ProviderUnavailable, SafeJSONParser

from ..formats import DEFAULT_FORMAT, FORMATS, FormatError
from ..formats.service import decode, export_template, import_template
from ..forms import parameter_form_class
from ..models import Template
from ..schema import parameter_warnings
from .permissions import ManagesTemplateOrReadOnly
from .serializers import (
    GenerateSerializer,
    TemplateImportResultSerializer,
    TemplateImportSerializer,
    TemplateSavedSerializer,
    TemplateSerializer,
    TemplateVersionSerializer,
)

IDEMPOTENCY_KEY_MAX = Job._meta.get_field("idempotency_key").max_length


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


class TemplateViewSet(viewsets.ModelViewSet):
    """Prompt templates: the ones you may see (yours, signed-in users', public ones)."""

    serializer_class = TemplateSerializer
    permission_classes = (permissions.IsAuthenticated, ManagesTemplateOrReadOnly)
    lookup_field = "slug"
    # A slug's characters only: anything else (a NUL byte, which PostgreSQL refuses
    # outright) is a 404 from the router, before any query.
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    http_method_names = ("get", "post", "patch", "delete", "head", "options")

    def get_queryset(self) -> Any:
        return (
            Template.objects.visible_to(self.request.user)
            .select_related("published_version", "owner")
            .order_by("name")
        )

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        template = self.get_object()
        key = _representation_key(template)
        data = _representations.get(key)
        if data is None:
            data = dict(self.get_serializer(template).data)  # not the ReturnDict: it holds the request
            if len(_representations) >= 1024:
                _representations.clear()
            _representations[key] = data
        return Response(data)

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

    def _with_warnings(self, response: Response) -> Response:
        template = Template.objects.select_related("published_version").get(slug=response.data["slug"])
        version = template.published_version
        warnings = parameter_warnings(version.schema, version.body, version.system_prompt) if version else []
        response.data = {**response.data, "warnings": warnings}
        return response

    def perform_destroy(self, instance: Template) -> None:
        try:
            instance.delete()
        except (ProtectedError, IntegrityError):
            raise Conflict(_("This template has jobs; it can be made private but not deleted.")) from None

    @extend_schema(responses=TemplateVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, slug: str | None = None) -> Response:
        """The template's versions, newest first: every one for its owner (and staff),
        only the published one for anyone else who can see the template."""
        template = self.get_object()
        versions = (
            template.versions.visible_to(request.user)
            .select_related("created_by", "template")
            .order_by("-number")
        )
        return Response(TemplateVersionSerializer(versions, many=True).data)

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
                text = decode(data["file"].read())
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
            if data.get("slug") and Template.objects.filter(slug=data["slug"]).exists():
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
        response = HttpResponse(exported.content, content_type=exported.content_type)
        response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
        response["X-PromptLab-Warnings"] = json.dumps(exported.warnings)
        return response

    @extend_schema(
        request=GenerateSerializer,
        responses={200: JobSerializer, 202: JobSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
                OpenApiParameter.HEADER,
                description="A retried request with the same key returns the same job.",
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def generate(self, request: Request, slug: str | None = None) -> Response:
        """Run the template on inputs (validated by the template's schema) → 202 with the job."""
        template = self.get_object()
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
            raise serializers.ValidationError(
                {"Idempotency-Key": [_("At most %(max)d characters.") % {"max": IDEMPOTENCY_KEY_MAX}]}
            )
        if key and (job := Job.objects.filter(owner=request.user, idempotency_key=key).first()):
            return Response(JobSerializer(job, context=self.get_serializer_context()).data)
        payload = GenerateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version = template.published_version
        if version is None:
            raise serializers.ValidationError({"template": [_("This template has no published version.")]})
        version.template = template  # loaded already: spare submit_generation a query
        inputs = _validated_inputs(version, payload.validated_data["inputs"])
        try:
            job = submit_generation(
                version,
                inputs,
                owner=request.user,
                provider=payload.validated_data.get("provider"),
                model=payload.validated_data.get("model"),
                idempotency_key=key,
            )
        except SubmissionError as exc:
            if exc.code == "provider_unavailable":
                raise ProviderUnavailable(str(exc)) from None
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        except IntegrityError:  # the same Idempotency-Key, sent twice at once
            job = get_object_or_404(Job, owner=request.user, idempotency_key=key)
            return Response(JobSerializer(job, context=self.get_serializer_context()).data)
        return Response(
            JobSerializer(job, context=self.get_serializer_context()).data, status=status.HTTP_202_ACCEPTED
        )


# Rendered templates, by everything that goes into the rendering: a changed row makes a
# new key, so an entry is never stale (versions are immutable), only unused.
_representations: dict[tuple[Any, ...], Any] = {}


def _representation_key(template: Template) -> tuple[Any, ...]:
    version = template.published_version
    return (
        *(getattr(template, field.attname) for field in Template._meta.concrete_fields),
        # The version's content is immutable, so its id stands for it; the theme is named
        # too, so the key stays right even if a version's theme were ever rewritten.
        json.dumps(version.theme, sort_keys=True) if version is not None else None,
        template.owner.email if template.owner_id else None,
        get_script_prefix(),
    )


def _validated_inputs(version: Any, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate with the very form class the browser form uses: same rules, same messages."""
    cleaned, errors = parameter_form_class(version, get_language()).validate_json(raw)
    if cleaned is None:
        raise serializers.ValidationError({"inputs": errors})
    return cleaned
