from __future__ import annotations

from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import PersonalToken, TokenScope
from accounts.permissions import needs_scope
from jobs.api.views import _api_caller
from jobs.streaming import streaming_enabled
from promptlab.api import Conflict, NewestFirstCursorPagination, SafeJSONParser, error_body
from templates_app.api.views import FileContentNegotiation, TextFileRenderer
from templates_app.models import Template

from .. import services
from ..models import Batch, RowStatus
from ..progress_stream import ApiProgress, progress_stream_response
from ..results import EXPORTS, results_response
from . import plans
from .serializers import (
    BatchCreateSerializer,
    BatchRowSerializer,
    BatchSerializer,
    BatchUploadSerializer,
)

UUID_REGEX = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class RowsPagination(NewestFirstCursorPagination):
    """The rows in file order: a row's id follows (number, configuration), as they are written."""

    ordering = "pk"


def _file_renderer(export: Any) -> type[TextFileRenderer]:
    return type(
        f"{type(export).__name__}Renderer",
        (TextFileRenderer,),
        {"media_type": export.content_type.split(";")[0], "format": export.extension, "charset": None},
    )


RESULT_RENDERERS = [JSONRenderer, *(_file_renderer(export) for export in EXPORTS.values())]


@extend_schema_view(
    list=extend_schema(
        summary="List your batches", description="Your batches, newest first (cursor pagination)."
    ),
    retrieve=extend_schema(summary="Get a batch", description="Its state and counts."),
)
class BatchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your batches: a template run on many rows (and compared under several configurations)."""

    serializer_class = BatchSerializer
    pagination_class = NewestFirstCursorPagination
    lookup_value_regex = UUID_REGEX

    def get_queryset(self) -> Any:
        batches = Batch.objects.owned_by(self.request.user).exclude(state="draft")
        batches = batches.select_related("template").prefetch_related("configurations__template_version")
        return reachable_batches(batches, self.request.auth)

    @extend_schema(
        summary="A batch's rows",
        description=(
            "The rows in file order (a comparison has a row per input and configuration), each with "
            "its job's answer once it has one (cursor pagination)."
        ),
        parameters=[
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=[s.value for s in RowStatus], description="Only this status."
            )
        ],
        responses=BatchRowSerializer(many=True),
    )
    @action(
        detail=True, methods=["get"], pagination_class=RowsPagination, serializer_class=BatchRowSerializer
    )
    def rows(self, request: Request, pk: str | None = None) -> Response:
        batch = self.get_object()
        rows = batch.rows.select_related("job", "configuration").defer(
            "job__prompt", "job__system_prompt", "job__inputs"
        )
        if (wanted := request.query_params.get("status")) is not None:
            if wanted not in RowStatus.values:
                raise serializers.ValidationError({"status": [_("Unknown status.")]})
            rows = rows.filter(status=wanted)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(BatchRowSerializer(page, many=True).data)

    @extend_schema(
        summary="Download a batch's results",
        description=(
            "The input columns, then output, status, error, tokens, cost and the job link; a JSON output's "
            "top-level fields have a column each; a comparison has a block of columns per configuration. "
            "Streamed. Cells that a spreadsheet would run as a formula are neutralised in CSV and XLSX."
        ),
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=list(EXPORTS),
                default="csv",
                description="The file format.",
            )
        ],
        responses={
            (200, export.content_type.split(";")[0]): OpenApiResponse(
                OpenApiTypes.BINARY, description=f"The results as {export.label}."
            )
            for export in EXPORTS.values()
        },
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=RESULT_RENDERERS,
        content_negotiation_class=FileContentNegotiation,
    )
    def results(self, request: Request, pk: str | None = None) -> HttpResponse:
        batch = self.get_object()
        name = request.query_params.get("format", "csv")
        export = EXPORTS.get(name)
        if export is None:
            raise serializers.ValidationError(
                {"format": [_("Unknown format. Known: %(names)s.") % {"names": ", ".join(EXPORTS)}]}
            )
        return results_response(batch, export, request.build_absolute_uri)

    @extend_schema(summary="Cancel a batch", request=None, responses=BatchSerializer)
    @action(detail=True, methods=["post"])
    @needs_scope(TokenScope.RUN)
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Queued rows never start; running ones stop as a cancelled job does. A batch that
        ended already is returned unchanged."""
        batch = self.get_object()
        services.cancel_batch(batch)
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(summary="Retry a batch's failed rows", request=None, responses=BatchSerializer)
    @action(detail=True, methods=["post"])
    @needs_scope(TokenScope.RUN)
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Only the failed rows run again (cancelled rows stay cancelled). 409 when the
        template can no longer run for you (made private, deleted, or a new version
        published that you may not run the old one of)."""
        batch = self.get_object()
        try:
            services.retry_failed(batch)
        except services.BatchError as exc:
            raise Conflict(exc.message) from None
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Stream a batch's progress",
        responses={(200, "text/event-stream"): OpenApiTypes.STR},
        description=(
            "Server-Sent Events: `progress` (JSON: state, counts, tokens, cost, time left) each time the "
            "counts change, at most a few times a second; `done` once nothing more will change. Each "
            "event's id names its counts: reconnecting with `Last-Event-ID` sends nothing until they "
            "change. Served by the stream server; this schema entry documents it."
        ),
    )
    @action(detail=True, methods=["get"])
    def events(self, request: Request, pk: str | None = None) -> Response:
        # Reached only when the stream server is not in front (plain WSGI): say so.
        self.get_object()
        return Response(
            error_body("not_found", _("Event streams are served by the ASGI server.")), status=404
        )


def reachable_batches(batches: Any, credential: Any) -> Any:
    """A token limited to some templates sees those templates' batches only."""
    if isinstance(credential, PersonalToken):
        batches = batches.filter(template__in=Template.all_objects.reachable_with(credential))
    return batches


ROW_ERRORS_DESCRIPTION = (
    "Every row is validated by the template's form before anything is created. When some rows "
    "are not valid, nothing is created and the 400's `error.details.rows` lists each error as "
    "`{row, column, message}` (the first 1000), `error.details.invalid_rows` counts the rows. "
    "Other invalid input names its field in `details`, as everywhere."
)


@extend_schema_view(post=extend_schema(summary="Run a template on many rows"))
class BatchCreateView(generics.GenericAPIView):
    """POST templates/{slug}/batches: the rows as JSON, or a file (multipart)."""

    serializer_class = BatchCreateSerializer
    parser_classes = [SafeJSONParser, MultiPartParser]

    def get_queryset(self) -> Any:
        templates = Template.objects.visible_to(self.request.user).reachable_with(self.request.auth)
        return templates.runnable().select_related("published_version")

    @extend_schema(
        request={"application/json": BatchCreateSerializer, "multipart/form-data": BatchUploadSerializer},
        responses={
            201: OpenApiResponse(BatchSerializer, description="The batch, running."),
        },
        description=ROW_ERRORS_DESCRIPTION,
    )
    @needs_scope(TokenScope.RUN)
    def post(self, request: Request, slug: str) -> Response:
        """Every row is validated by the template's form before anything is created: a 400
        lists each invalid row's errors, and nothing runs. Identical rows run once."""
        template = get_object_or_404(self.get_queryset(), slug=slug)
        language = get_language()
        if request.content_type.startswith("multipart/"):
            payload = BatchUploadSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            data = payload.validated_data
            plan = plans.plan_from_file(
                template,
                request.user,
                data["file"],
                sheet=data.get("sheet") or None,
                mapping=data.get("mapping"),
                language=language,
            )
        else:
            payload = BatchCreateSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            data = payload.validated_data
            plan = plans.plan_from_json(template, request.user, data["rows"], language=language)
        if plan.refused is not None:
            raise serializers.ValidationError({plan.refused.field: [plan.refused.message]})
        if plan.errors:
            message = _("Some rows are not valid: nothing was created.")
            details = {"rows": plan.errors, "invalid_rows": plan.invalid_rows}
            return Response(
                error_body("validation_error", message, details), status=status.HTTP_400_BAD_REQUEST
            )
        try:
            batch = services.create_batch(
                template,
                request.user,
                plan.rows(),
                configurations=plans.configuration_specs(template, data.get("configurations") or []),
                columns=plan.columns,
                source_name=plan.source_name,
                concurrency=data.get("concurrency"),
                rows_per_minute=data.get("rows_per_minute"),
            )
        except services.BatchError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]}) from None
        batch = (
            Batch.objects.select_related("template")
            .prefetch_related("configurations__template_version")
            .get(pk=batch.pk)
        )
        return Response(BatchSerializer(batch).data, status=status.HTTP_201_CREATED)


async def batch_events_api(request: HttpRequest, pk: UUID) -> HttpResponse:
    """SSE for scripts (JSON progress events), authenticated like the rest of the API."""
    if not streaming_enabled():
        return JsonResponse(
            error_body("not_found", _("Live event streams need Redis; poll GET batches/{id} instead.")),
            status=404,
        )
    user, batch = await sync_to_async(_authorised_batch)(request, pk)
    if user is None:
        return JsonResponse(
            error_body("not_authenticated", _("Authentication credentials were not provided.")), status=401
        )
    if batch is None:
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    return progress_stream_response(batch, request.headers.get("Last-Event-ID"), ApiProgress())


def _authorised_batch(request: HttpRequest, pk: UUID) -> tuple[Any, Batch | None]:
    user, credential = _api_caller(request)
    if user is None:
        return None, None
    batches = reachable_batches(Batch.objects.owned_by(user).exclude(state="draft").filter(pk=pk), credential)
    return user, batches.only("id").first()
