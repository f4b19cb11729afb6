from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.core.validators import slug_re
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from accounts.models import PersonalToken, TokenScope
from accounts.permissions import needs_scope
from budgets import services as budgets
from promptlab.api import Conflict, NewestFirstCursorPagination, ProviderUnavailable, error_body
from promptlab.openapi import SLUG_PATTERN
from templates_app.forms import parameter_form_class
from templates_app.models import Template, TemplateVersion

from ..events import ApiEvents, event_stream_response
from ..models import Job, JobQuerySet, JobStatus
from ..services import SubmissionError, cancel_job, submit_generation
from ..streaming import streaming_enabled
from ..waiting import wait_for_job
from ..workflow_events import STREAM_OPENING_FIELDS, ApiWorkflowEvents, workflow_stream_response
from ..workflow_page import RETRYABLE_RUN_STATUSES, is_workflow_run
from .serializers import GenerateSerializer, JobListItemSerializer, JobSerializer

IDEMPOTENCY_KEY_MAX = Job._meta.get_field("idempotency_key").max_length

FILTERS = [
    OpenApiParameter(
        "status", OpenApiTypes.STR, enum=[s.value for s in JobStatus], description="Only this status."
    ),
    OpenApiParameter(
        "template",
        {"type": "string", "pattern": SLUG_PATTERN},
        description="Only jobs of this template (slug).",
    ),
    OpenApiParameter(
        "q",
        {"type": "string", "maxLength": 200, "pattern": r"^[^\x00]*$"},
        description="Only jobs whose inputs or output contain this text (no NUL character).",
    ),
    OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="ISO 8601."),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="ISO 8601."),
    OpenApiParameter(
        "fields", OpenApiTypes.STR, description="Comma-separated fields to return, e.g. id,status."
    ),
]


def _datetime(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = parse_datetime(raw)
        if value is not None:
            # In UTC: the database refuses offsets beyond ±15:59 that ISO 8601 allows.
            value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        value = None
    if value is None:
        raise serializers.ValidationError({name: [_("Enter a date and time in ISO 8601 format.")]})
    return value


def filter_jobs(jobs: JobQuerySet, params: Mapping[str, str]) -> JobQuerySet:
    """The job list's filters (``status``, ``template``, ``q``, ``created_after``,
    ``created_before``, as strings): the REST list's and GraphQL's ``jobs`` alike. A bad
    value is a ValidationError naming the parameter."""
    status = params.get("status")
    if status is not None:
        if status not in JobStatus.values:
            raise serializers.ValidationError({"status": [_("Unknown status.")]})
        jobs = jobs.filter(status=status)
    if (template := params.get("template")) is not None:
        # Checked first: PostgreSQL refuses some strings (a NUL byte) outright.
        if not slug_re.fullmatch(template):
            raise serializers.ValidationError({"template": [_("Not a template slug.")]})
        jobs = jobs.filter(template_version__template__slug=template)
    if search := params.get("q"):
        # PostgreSQL refuses a NUL byte in a text outright: a 400, not a 500.
        if "\x00" in search or len(search) > 200:
            raise serializers.ValidationError({"q": [_("Search for a text of at most 200 characters.")]})
        jobs = jobs.search(search)
    if after := _datetime(params, "created_after"):
        jobs = jobs.filter(created_at__gte=after)
    if before := _datetime(params, "created_before"):
        jobs = jobs.filter(created_at__lt=before)
    return jobs


@extend_schema_view(
    retrieve=extend_schema(summary="Get a job"),
    cancel=extend_schema(summary="Cancel a job"),
    retry=extend_schema(summary="Retry a workflow run from its failed step"),
    events=extend_schema(summary="Stream a job's events"),
    list=extend_schema(
        summary="List your jobs",
        parameters=FILTERS,
        description=(
            "Your jobs, newest first (cursor pagination), and, in a workspace that lets its members "
            "see every job, those its members ran with its templates (read-only). Each item has every "
            "field of a job but "
            "its `output` and `steps`, unless `?fields=` names the fields wanted (`output` or "
            "`steps` included). A workflow run's steps are not jobs of the list."
        ),
    ),
)
class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your jobs, newest first (cursor pagination)."""

    serializer_class = JobSerializer
    pagination_class = NewestFirstCursorPagination
    # Ids are UUIDs: anything else is a 404 from the router, not a query that fails.
    lookup_value_regex = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

    def get_serializer_class(self) -> Any:
        return JobListItemSerializer if self.action == "list" else JobSerializer

    def get_queryset(self) -> Any:
        jobs = Job.objects.visible_to(self.request.user, None).select_related(
            "template_version__template", "owner"
        )
        jobs = reachable_jobs(jobs, self.request.auth)
        if self.action != "list":
            return jobs
        selected = JobListItemSerializer.selected_fields(self.request, JobSerializer.Meta.fields)
        if "output" not in selected:
            jobs = jobs.defer("output")  # the largest column, and not in the list unless asked
        if "steps" in selected:
            jobs = jobs.prefetch_related("steps")
        return filter_jobs(jobs.runs(), self.request.query_params)

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    @needs_scope(TokenScope.RUN)
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel a queued or running job (a finished one is returned unchanged). Only whoever
        ran it may: another member's job, seen through the workspace, is a 403."""
        job = self._job_to_act_on()
        cancel_job(job)
        return Response(self.get_serializer(job).data)

    @extend_schema(
        request=None,
        responses={
            202: OpenApiResponse(JobSerializer, description="The run, queued again from its failed step."),
        },
    )
    @action(detail=True, methods=["post"])
    @needs_scope(TokenScope.RUN)
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Retry a failed or cancelled workflow run from its failed step: steps that failed, were
        cancelled or never ran run again; those that succeeded or were skipped keep their output.
        A job that is no workflow run, or a run that is not failed or cancelled: 409 (`conflict`)."""
        from ..workflows import retry

        job = self._job_to_act_on()
        if not is_workflow_run(job):
            raise Conflict(_("Only a workflow run can be retried from its failed step."))
        if job.status not in RETRYABLE_RUN_STATUSES:
            raise Conflict(_("Only a failed or cancelled run can be retried from its failed step."))
        retry(job)
        job.refresh_from_db()
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    def _job_to_act_on(self) -> Job:
        job = self.get_object()
        if not job.is_run_by(self.request.user, None):
            raise PermissionDenied(_("Only the person who ran this job can cancel or retry it."))
        return job

    @extend_schema(
        responses={(200, "text/event-stream"): OpenApiTypes.STR},
        description=(
            'Server-Sent Events: `status` (JSON job), `chunk` (JSON `{"text"}`), `reset` (a retry '
            "starts over), `done` (the final status). Resume with `Last-Event-ID`. Served by the "
            "stream server; this schema entry documents it.\n\n"
            "A workflow run's stream carries its steps' events instead, from the run's start (or "
            "after `Last-Event-ID`): `step` (a step's status changed: JSON with `step`, `item`, "
            "`status`, tokens, cost, times, error), `chunk` (a running step's text: `step`, `item`, "
            "`offset`, `text`), `run` (the run's status), then `done`. Each event's `id` is its "
            "entry in the run's stream, and `Last-Event-ID` resumes right after it."
        ),
    )
    @action(detail=True, methods=["get"])
    def events(self, request: Request, pk: str | None = None) -> Response:
        # Reached only when the stream server is not in front (plain WSGI): say so.
        self.get_object()
        return Response(
            error_body("not_found", _("Event streams are served by the ASGI server.")), status=404
        )


@extend_schema_view(post=extend_schema(summary="Run a template"))
class GenerateView(generics.GenericAPIView):
    """Running a template through the API: POST templates/{slug}/generate."""

    serializer_class = GenerateSerializer

    def get_queryset(self) -> Any:
        templates = Template.objects.visible_to(self.request.user).reachable_with(self.request.auth)
        return templates.select_related("published_version")

    @extend_schema(
        request=GenerateSerializer,
        responses={
            200: OpenApiResponse(
                JobSerializer,
                description=(
                    "The job is finished: answered at once from an identical recent result, or ended "
                    "within `wait`; or the Idempotency-Key names a job already submitted."
                ),
            ),
            202: OpenApiResponse(JobSerializer, description="The job, queued or running."),
            402: OpenApiResponse(
                description=(
                    "A budget of the template's workspace (or the caller's within it) refused the run "
                    "before anything was spent: `budget_exhausted` (details: `budget` workspace or "
                    "member, `unit` tokens or cost, `used`, `limit`, `resets_at`, the 1st of next "
                    "month at 00:00 UTC) or `budget_unpriced_model` (a cost budget, and the model has "
                    "no price). Not 429: retrying soon does not help."
                )
            ),
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
                OpenApiParameter.HEADER,
                description="A retried request with the same key returns the same job.",
            ),
            OpenApiParameter(
                "X-Budget-Remaining",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=[200, 202, 402],
                description=(
                    "What is left this month (UTC) of the tightest budget that applies: the "
                    "workspace's or the caller's within it, tokens or cost, whichever has the "
                    "smallest share left, e.g. `1200 tokens` or `0.420000 USD` (spent and held by "
                    "runs in progress both count). Absent when no budget applies, and for a caller "
                    "who is no member of the template's workspace."
                ),
            ),
            OpenApiParameter(
                "X-Budget-Warning",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=[200, 202, 402],
                description="Present once a budget reached its warning threshold, e.g. `85% of the "
                "workspace token budget used; resets 2027-01-01T00:00:00Z`.",
            ),
        ],
    )
    @needs_scope(TokenScope.RUN)
    def post(self, request: Request, slug: str) -> Response:
        """Run the template on inputs (validated by the template's schema) → 202 with the job, or
        200 with the finished job when it ends within ``wait`` seconds."""
        template = get_object_or_404(self.get_queryset(), slug=slug)
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
            raise serializers.ValidationError(
                {"Idempotency-Key": [_("At most %(max)d characters.") % {"max": IDEMPOTENCY_KEY_MAX}]}
            )
        if key and (job := self._job_for_key(key)):
            return self._job_response(job)
        payload = self.get_serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version = template.published_version
        if version is None:
            raise serializers.ValidationError({"template": [_("This template has no published version.")]})
        version.template = template  # loaded already: spare submit_generation a query
        try:
            job = submit_generation(
                version,
                _validated_inputs(version, payload.validated_data["inputs"]),
                owner=request.user,
                provider=payload.validated_data.get("provider"),
                model=payload.validated_data.get("model"),
                idempotency_key=key,
            )
        except SubmissionError as exc:
            if exc.code == "provider_unavailable":
                raise ProviderUnavailable(str(exc)) from None
            if exc.code in budgets.CODES:
                response = Response(error_body(exc.code, str(exc), exc.details), status=402)
                return budget_headers(response, template, request.user)
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        except IntegrityError:  # the same Idempotency-Key, sent twice at once
            if (job := self._job_for_key(key)) is None:
                raise Http404 from None
            return self._job_response(job)
        if (wait := payload.validated_data.get("wait")) is not None:
            job = wait_for_job(job, wait)
        # Finished already (answered from an identical recent result, or within `wait`): 200 with
        # the output, so that a script needs no second request; 202 only for work still to do.
        response = self._job_response(
            job, status.HTTP_200_OK if job.is_terminal else status.HTTP_202_ACCEPTED
        )
        return budget_headers(response, template, request.user)

    def _job_response(self, job: Job, code: int = status.HTTP_200_OK) -> Response:
        return Response(JobSerializer(job, context=self.get_serializer_context()).data, status=code)

    def _job_for_key(self, key: str) -> Job | None:
        jobs = Job.objects.select_related("template_version__template", "owner")
        return jobs.filter(owner=self.request.user, idempotency_key=key).first()


def budget_headers(response: Response, template: Template, user: Any) -> Response:
    """X-Budget-Remaining: what is left this month of the tightest budget that applies to
    the caller in the template's workspace ("1200 tokens" or "0.420000 USD"); and, at a
    budget's soft threshold, X-Budget-Warning. Neither when no budget applies, nor for a
    caller who is no member of the workspace (``standing_shown_to``)."""
    held = budgets.standing_shown_to(user, template.workspace_id)
    if held is None:
        return response
    response["X-Budget-Remaining"] = held.tightest.header_value
    if warned := held.warning_lines:
        line = warned[0]
        response["X-Budget-Warning"] = (
            f"{line.percent_used}% of the {'member' if line.budget.member_id else 'workspace'} "
            f"{'token' if line.unit == 'tokens' else 'cost'} budget used; resets "
            f"{held.resets_at.isoformat().replace('+00:00', 'Z')}"
        )
    return response


def _validated_inputs(version: TemplateVersion, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate with the very form class the browser form uses: same rules, same messages."""
    cleaned, errors = parameter_form_class(version, get_language()).validate_json(raw)
    if cleaned is None:
        raise serializers.ValidationError({"inputs": errors})
    return cleaned


async def job_events_api(request: HttpRequest, pk: UUID) -> HttpResponse:
    """SSE for scripts (JSON events), authenticated like the rest of the API."""
    if not streaming_enabled():
        return JsonResponse(
            error_body("not_found", _("Live event streams need Redis; poll GET jobs/{id} instead.")),
            status=404,
        )
    user, job = await sync_to_async(_authorised_job)(request, pk)
    if user is None:
        return JsonResponse(
            error_body("not_authenticated", _("Authentication credentials were not provided.")), status=401
        )
    if job is None:
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    if is_workflow_run(job):
        return workflow_stream_response(job, request.headers.get("Last-Event-ID"), ApiWorkflowEvents())
    return event_stream_response(job, request.headers.get("Last-Event-ID"), ApiEvents())


def reachable_jobs(jobs: Any, credential: Any) -> Any:
    """A token limited to some templates sees those templates' jobs only (the templates'
    one rule, ``reachable_with``): the job list and reads, and the job's event stream."""
    if isinstance(credential, PersonalToken):
        jobs = jobs.filter(template_version__template__in=Template.all_objects.reachable_with(credential))
    return jobs


def _authorised_job(request: HttpRequest, pk: UUID) -> tuple[Any, Job | None]:
    """The caller and their job (only what opening the stream needs: the stream reads
    the rest once subscribed), in one hop to the sync thread."""
    user, credential = _api_caller(request)
    if user is None:
        return None, None
    jobs = reachable_jobs(Job.objects.visible_to(user, None).filter(pk=pk), credential)
    return user, jobs.select_related("template_version").only(*STREAM_OPENING_FIELDS).first()


def _api_caller(request: HttpRequest) -> tuple[Any, Any]:
    """Run the API's authenticators (token, JWT, session) once, for the stream: the
    signed-in user (None if none) and the credential it came with."""
    drf_request = Request(
        request, authenticators=[cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    )
    try:
        user = drf_request.user
    except APIException:
        return None, None
    return (user, drf_request.auth) if user.is_authenticated else (None, None)
