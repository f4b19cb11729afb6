from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from budgets import services as budgets
from promptlab import ratelimits
from templates_app.access import managed_template_or_404
from templates_app.forms import parameter_fields_html, parameter_form_class, run_form_context
from templates_app.models import Template

from . import services
from .answer import form_initial, inputs_shown, render_markdown
from .downloads import DOWNLOADS
from .embed import embed_snippet
from .events import PageEvents, event_stream_response
from .filters import JobListFilter
from .models import Job, JobStatus
from .progress import progress_response
from .progress import shown as shown_progress
from .rollups import Summary, UsageDayRollup, UsageRollup, hour_of, rows_covering
from .streaming import streaming_enabled
from .visitors import visitor_session_key
from .workflow_events import STREAM_OPENING_FIELDS, PageWorkflowEvents, workflow_stream_response
from .workflow_page import (
    RETRYABLE_RUN_STATUSES,
    changed_since,
    is_workflow_run,
    running_outputs,
    workflow_shown,
)

# --- Running a template: its form page ---------------------------------------


@ratelimits.limit_posts("runs")  # the same limits as the API's generate
@require_http_methods(["GET", "POST"])
def run_template(request: HttpRequest, slug: str) -> HttpResponse:
    """A template's form page (templates_app:run); submitting it creates a job and
    goes to the job's page, or shows the form again with what to correct."""
    template = get_object_or_404(
        Template.objects.visible_to(request.user)
        .runnable()
        .with_viewer_role(request.user)
        .select_related("published_version"),
        slug=slug,
    )
    language = translation.get_language()
    form_class = parameter_form_class(
        template.published_version, language, settable_hidden=template.allow_prefill_hidden
    )
    if request.method == "GET":
        # "Run again" from a job's page: the form filled with that job's inputs, to edit;
        # a link's query (?topic=trams) fills the fields it names, checked as a submission.
        initial = _inputs_of_job(request, template, request.GET.get("from_job"))
        return _run_page(request, template, form_class.from_query(request.GET, initial), language)
    if request.rate_limit.exceeded:
        # Refused before the uploads are looked at: the form shows what was typed again and
        # asks for any file anew (a browser never keeps a chosen file in the page it gets back).
        messages.error(
            request,
            _("You have run templates too often. Try again in %(seconds)d seconds.")
            % {"seconds": max(request.rate_limit.reset, 1)},
        )
        return _run_page(request, template, form_class(request.POST), language, status=429)
    form = form_class(request.POST, request.FILES)
    if form.is_valid():
        try:
            job = services.submit_generation(
                template.published_version,
                form.cleaned_data,
                owner=request.user,
                session_key=visitor_session_key(request),
            )
        except services.SubmissionError as exc:
            if exc.code in budgets.CODES:
                form.add_error(None, str(exc))  # the form kept, the refusal in its error summary
            else:
                messages.error(request, str(exc))
        else:
            return redirect(job)
    return _run_page(request, template, form, language)


@ratelimits.limit_posts("runs")
@require_POST
def test_run_version(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Run any version of a template (a draft, usually) on the values of its preview form
    (templates_app:test_run); only its managers may. The job is marked as a draft run."""
    template = managed_template_or_404(request, slug)
    version = get_object_or_404(template.versions, number=number)
    language = translation.get_language()
    form_class = parameter_form_class(version, language)
    form = form_class(request.POST, request.FILES)
    status = 200
    if request.rate_limit.exceeded:
        messages.error(
            request,
            _("You have run templates too often. Try again in %(seconds)d seconds.")
            % {"seconds": max(request.rate_limit.reset, 1)},
        )
        form, status = form_class(request.POST), 429
    elif form.is_valid():
        try:
            job = services.submit_generation(version, form.cleaned_data, owner=request.user, draft_run=True)
        except services.SubmissionError as exc:
            messages.error(request, str(exc))
        else:
            return redirect(job)
    context = {
        "template": template,
        "version": version,
        "form": form,
        "valid": False,
        "fields_html": parameter_fields_html(version, language, form),
    }
    return render(request, "templates_app/preview.html", context, status=status)


def _inputs_of_job(request: HttpRequest, template: Template, job_id: str | None) -> dict[str, Any]:
    """The inputs of one of this user's jobs of this template, as form values; none for
    anything else (another's job, another template, a malformed id)."""
    if not job_id:
        return {}
    try:
        job_uuid = UUID(job_id)
    except ValueError:
        return {}
    job = (
        Job.objects.visible_to(request.user, request.session.session_key)
        .filter(pk=job_uuid, template_version__template=template)
        .only("inputs")
        .first()
    )
    return form_initial(template.published_version, job.inputs) if job else {}


def _run_page(
    request: HttpRequest, template: Template, form: Any, language: str, *, status: int = 200
) -> HttpResponse:
    context = {**run_form_context(template, form, language), "usage": _template_usage(request, template)}
    member = template.workspace_id is None or template.role_of(request.user) is not None
    context["budget"] = budgets.standing_shown_to(request.user, template.workspace_id, member=member)
    if template.is_managed_by(request.user) and template.embeddable:
        context["embed_snippet"] = embed_snippet(request, template)
    return render(request, "jobs/run.html", context, status=status)


def _template_usage(request: HttpRequest, template: Template) -> Summary | None:
    """This month's figures of the template, everyone's runs, for those who manage it."""
    if not template.is_managed_by(request.user):
        return None
    month = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    parts = rows_covering(
        UsageRollup.objects.filter(template=template),
        UsageDayRollup.objects.filter(template=template),
        hour_of(month),
        hour_of(timezone.now()) + timedelta(hours=1),
    )
    return Summary.of(part.totals() for part in parts)


def _get_job_for_user(request: HttpRequest, job_id: UUID, *, to_act: bool = False) -> Job:
    """The job if this user (or, for anonymous jobs, this browser session) may see it; else
    404. ``to_act`` (cancel, retry): 403 for a job they see but did not run (``Job.is_run_by``)."""
    job = (
        Job.objects.visible_to(request.user, request.session.session_key)
        .select_related("template_version__template", "leader", "owner")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        raise Http404
    if to_act and not job.is_run_by(request.user, request.session.session_key):
        raise PermissionDenied
    return job


@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    visible = Job.objects.runs().visible_to(request.user, request.session.session_key)
    filters = JobListFilter(request.GET, jobs=visible)
    jobs = (
        filters.apply(visible)
        .select_related("template_version__template", "owner")
        .defer("output", "prompt", "system_prompt", "inputs")
    )
    page = Paginator(jobs, 25).get_page(request.GET.get("page"))
    # The pages' links keep the filter.
    query = request.GET.copy()
    query.pop("page", None)
    context = {"page": page, "filters": filters, "filter_query": query.urlencode()}
    return render(request, "jobs/list.html", context)


def _result_context(request: HttpRequest, job: Job) -> dict[str, Any]:
    """What the page's result part needs; also the final fragment the page fetches."""
    template = job.template_version.template
    runnable = Template.objects.visible_to(request.user).runnable().filter(pk=template.pk).exists()
    return {
        "job": job,
        # Another member's job, seen through the workspace: read, never acted on.
        "read_only": not job.is_run_by(request.user, request.session.session_key),
        "answer_html": render_markdown(job.output) if job.is_terminal and job.output else "",
        "downloads": DOWNLOADS.values(),
        "runnable": runnable,
        "workflow": is_workflow_run(job),
        "retryable_statuses": RETRYABLE_RUN_STATUSES,
    }


def _steps_context(request: HttpRequest, job: Job, *, since: datetime | None = None) -> dict[str, Any]:
    """The steps section: the run's stages and steps (a running step's text so far is its
    job's, as the database has it), and its polling address while it runs without Redis."""
    shown = workflow_shown(job, running_outputs(job))
    context: dict[str, Any] = {"workflow": shown, "changed": changed_since(shown.steps, since)}
    if not job.is_terminal and not streaming_enabled():
        now = timezone.now().isoformat()
        context["poll_url"] = f"{reverse('jobs:steps', args=[job.pk])}?{urlencode({'since': now})}"
        context["poll_ms"] = settings.JOB_PAGE_POLL_QUEUED_MS
    return context


@require_GET
def job_detail(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = _get_job_for_user(request, job_id)
    streaming = streaming_enabled()
    shown = shown_progress(job)
    if job.is_terminal:
        output = job.output
    elif streaming:
        output = ""  # the stream sends everything so far as its first event
    else:
        output = shown.output
    context = {
        **_result_context(request, job),
        "streaming": streaming,
        "shown": shown,
        "output": output,
        "inputs": inputs_shown(job.template_version, job.inputs, translation.get_language()),
        "poll_running_ms": settings.JOB_PAGE_POLL_RUNNING_MS,
        "poll_queued_ms": settings.JOB_PAGE_POLL_QUEUED_MS,
    }
    if context["workflow"] and request.GET.get("part") != "result":
        context.update(_steps_context(request, job))
    if request.GET.get("part") == "result":
        # Fetched by the page's script when the job ends: the answer and its actions.
        return render(request, "jobs/detail.html#result", context)
    return render(request, "jobs/detail.html", context)


@require_GET
def job_steps(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """A workflow run's steps, polled by the page without Redis; with the statuses that
    changed since the last poll (``since``) announced, and once the run has ended, what
    the page then shows (``final``)."""
    job = _get_job_for_user(request, job_id)
    if not is_workflow_run(job):
        raise Http404
    since = parse_datetime(request.GET.get("since", "")) if request.GET.get("since") else None
    context = {**_result_context(request, job), **_steps_context(request, job, since=since)}
    return render(request, "jobs/includes/workflow.html#poll", context)


@require_GET
def job_progress(request: HttpRequest, job_id: UUID) -> JsonResponse:
    """For the page's script without Redis (``progress.progress_response``)."""
    return progress_response(request, _get_job_for_user(request, job_id))


@require_GET
def download_job(request: HttpRequest, job_id: UUID, extension: str) -> HttpResponse:
    job = _get_job_for_user(request, job_id)
    download = DOWNLOADS.get(extension)
    if download is None:
        raise Http404
    response = HttpResponse(download.body(job), content_type=download.content_type)
    response["Content-Disposition"] = f'attachment; filename="{download.filename(job)}"'
    return response


@ratelimits.limit_posts("runs")
@require_POST
def retry_job(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """Run a failed or cancelled job's inputs again, on the template's published version,
    checked by its form as the API checks JSON inputs."""
    job = _get_job_for_user(request, job_id, to_act=True)
    template = (
        Template.objects.visible_to(request.user).runnable().filter(pk=job.template_version.template_id)
    )
    template = template.select_related("published_version").first()
    if template is None or job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Http404
    if request.rate_limit.exceeded:
        messages.error(
            request,
            _("You have run templates too often. Try again in %(seconds)d seconds.")
            % {"seconds": max(request.rate_limit.reset, 1)},
        )
        return redirect(job)
    form_class = parameter_form_class(
        template.published_version, translation.get_language(), settable_hidden=template.allow_prefill_hidden
    )
    cleaned, errors = form_class.validate_json(job.inputs)
    if cleaned is None:
        # The template changed since (or the job had a file): the form, filled, says what to fix.
        messages.error(request, _("These inputs no longer fit the template: check them and run it again."))
        return redirect(f"{template.get_absolute_url()}?from_job={job.pk}")
    try:
        new_job = services.submit_generation(
            template.published_version,
            cleaned,
            owner=request.user,
            session_key=visitor_session_key(request),
        )
    except services.SubmissionError as exc:
        messages.error(request, str(exc))
        return redirect(job)
    return redirect(new_job)


@require_POST
def retry_workflow(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """Retry a failed or cancelled workflow run from its failed step, in the same job:
    whoever may cancel the job may (``_get_job_for_user``)."""
    from .workflows import retry

    job = _get_job_for_user(request, job_id, to_act=True)
    if not is_workflow_run(job):
        raise Http404
    if job.status not in RETRYABLE_RUN_STATUSES:
        messages.info(request, _("Only a failed or cancelled run can be retried from its failed step."))
        return redirect(job)
    retry(job)
    messages.success(request, _("The run goes on from its failed step."))
    return redirect(job)


@require_POST
def cancel_job(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = _get_job_for_user(request, job_id, to_act=True)
    if services.cancel_job(job):
        messages.success(request, _("The job was cancelled."))
    else:
        messages.info(request, _("The job had already finished."))
    return redirect(job)


# --- Event stream (served under ASGI) ---------------------------------------


async def job_events(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """Server-Sent Events for the job page: escaped HTML chunks and the summary fragment.

    Access is checked once, when the stream opens; events need no database.
    """
    if not streaming_enabled():
        raise Http404
    user = await request.auser()
    # visible_to reads the caller's sharing workspaces when called: not in the event loop.
    visible = await sync_to_async(Job.objects.visible_to)(user, request.session.session_key)
    jobs = visible.filter(pk=job_id)
    # Who ran it too: another member's run streams without its retry (``is_run_by``).
    opening = (*STREAM_OPENING_FIELDS, "owner", "session_key")
    job = await jobs.select_related("template_version").only(*opening).afirst()
    if job is None:
        raise Http404
    if is_workflow_run(job):
        steps = PageWorkflowEvents(
            translation.get_language(),
            get_token(request),
            read_only=not job.is_run_by(user, request.session.session_key),
        )
        return workflow_stream_response(job, request.headers.get("Last-Event-ID"), steps)
    formatter = PageEvents(translation.get_language(), get_token(request))
    return event_stream_response(job, request.headers.get("Last-Event-ID"), formatter)
