from __future__ import annotations

from typing import Any

from django.db import IntegrityError
from django.db.models import ProtectedError
from django.shortcuts import get_object_or_404
from django.urls import get_script_prefix
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from jobs.api.serializers import JobSerializer
from jobs.models import Job
from jobs.services import SubmissionError, submit_generation
from promptlab.api import Conflict, ProviderUnavailable

from ..forms import parameter_form_class
from ..models import Template
from .serializers import GenerateSerializer, TemplateSerializer, TemplateVersionSerializer


class IsOwnerOrReadOnly(permissions.BasePermission):
    def has_object_permission(self, request: Request, view: Any, obj: Template) -> bool:
        if request.method in permissions.SAFE_METHODS or view.action in (
            "generate",
            "versions",
            "input_schema",
        ):
            return True
        return obj.owner_id is not None and obj.owner_id == request.user.pk


class TemplateViewSet(viewsets.ModelViewSet):
    """Prompt templates: the ones you may see (yours, signed-in users', public ones)."""

    serializer_class = TemplateSerializer
    permission_classes = (permissions.IsAuthenticated, IsOwnerOrReadOnly)
    lookup_field = "slug"
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

    def perform_destroy(self, instance: Template) -> None:
        try:
            instance.delete()
        except (ProtectedError, IntegrityError):
            raise Conflict(_("This template has jobs; it can be made private but not deleted.")) from None

    @extend_schema(responses=TemplateVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, slug: str | None = None) -> Response:
        """Every version of the template, newest first."""
        template = self.get_object()
        versions = template.versions.select_related("created_by", "template").order_by("-number")
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
        request=GenerateSerializer,
        responses={200: JobSerializer, 202: JobSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
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
            raise serializers.ValidationError({"inputs": [str(exc)]}) from None
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
    return (
        *(getattr(template, field.attname) for field in Template._meta.concrete_fields),
        template.owner.email if template.owner_id else None,
        get_script_prefix(),
    )


def _validated_inputs(version: Any, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate with the very form class the browser form uses: same rules, same messages."""
    unknown = sorted(set(raw) - version.schema.names)
    # An omitted parameter takes its default, as the form shows it pre-filled.
    defaults = {p.name: p.default for p in version.schema.parameters if p.default is not None}
    form = parameter_form_class(version, get_language())(data={**defaults, **raw})
    if unknown or not form.is_valid():
        details: dict[str, list[str]] = {name: list(errors) for name, errors in form.errors.items()}
        for name in unknown:
            details[name] = [_("Unknown parameter.")]
        raise serializers.ValidationError({"inputs": details})
    return form.cleaned_data
