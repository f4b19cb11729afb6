from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import services
from .events import PageEvents, event_stream_response
from .models import Job
from .streaming import streaming_enabled


def _get_job_for_user(request: HttpRequest, job_id: UUID) -> Job:
    """The job if this user (or, for anonymous jobs, this browser session) may see it; else 404."""
    job = (
        Job.objects.visible_to(request.user, request.session.session_key)
        .select_related("template_version__template", "leader")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        raise Http404
    return job


@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = (
        Job.objects.visible_to(request.user, request.session.session_key)
        .select_related("template_version__template")
        .defer("output", "prompt", "system_prompt", "inputs")
    )
    page = Paginator(jobs, 25).get_page(request.GET.get("page"))
    return render(request, "jobs/list.html", {"page": page})


@require_GET
def job_detail(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = _get_job_for_user(request, job_id)
    streaming = streaming_enabled()
    if job.is_terminal:
        output = job.output
    elif streaming:
        output = ""  # the stream sends everything so far as its first event
    else:
        output = job.leader.output if job.leader_id else job.output
    context = {"job": job, "streaming": streaming, "output": output}
    if request.htmx:
        return render(request, "jobs/detail.html#job", context)
    return render(request, "jobs/detail.html", context)


@require_POST
def cancel_job(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = _get_job_for_user(request, job_id)
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
    job = await Job.objects.visible_to(user, request.session.session_key).filter(pk=job_id).afirst()
    if job is None:
        raise Http404
    formatter = PageEvents(translation.get_language(), get_token(request))
    return event_stream_response(job, request.headers.get("Last-Event-ID"), formatter)
