"""A template's form embedded in another site: ``/t/<slug>/embed/`` and its job pages.

A browser that blocks third-party cookies sends none to a page framed by another
site, so nothing here reads or writes a cookie:

- Everyone runs as an anonymous visitor (the visitor road of public templates): the
  job has no owner and no session key, so no session-bound page lists it.
- CSRF is kept by a signed form token in the form (``embed-token``: the template and
  the time, signed with ``SECRET_KEY``; valid ``EMBED_FORM_MAX_AGE`` seconds) and by
  the ``Origin`` header, which must be our own when the browser sends one, instead of
  Django's cookie-based check. The token is no secret of the visitor's: the form is
  anonymous, so a forged submission could do nothing the forger can't do directly.
- The job's page, its progress and its event stream are reached through a signed
  capability in the URL (``/jobs/embedded/<capability>/``): whoever has the link sees
  that job, and no one can make one for another job.
- Rate limits count the client's address (``limit_posts(as_visitor=True)``), and the
  form is the template's own form class, as on the site and in the API.

Framing is allowed per template: the pages answer with ``frame-ancestors`` set to the
template's origins (``Template.embed_origins``) instead of ``'none'``, and without
``X-Frame-Options``. Every other page keeps both.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.csp import CSP, build_policy
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from promptlab import ratelimits
from templates_app.forms import parameter_form_class, run_form_context
from templates_app.models import Template, Visibility

from . import services
from .answer import render_markdown
from .events import PageEvents, event_stream_response
from .models import Job
from .progress import progress_response
from .progress import shown as shown_progress
from .streaming import streaming_enabled

FORM_TOKEN_FIELD = "embed-token"  # a hyphen: no parameter can have this name
_FORM_SALT = "jobs.embed.form"
_JOB_SALT = "jobs.embed.job"
# The listener script a host page may add (served by our static files, unhashed: a
# snippet pasted into another site must outlive the next deploy).
PARENT_SCRIPT = "js/embed-parent.js"


# --- Tokens -----------------------------------------------------------------------


def form_token(template: Template) -> str:
    return signing.TimestampSigner(salt=_FORM_SALT).sign_object({"template": template.pk})


def form_token_is_valid(request: HttpRequest, template: Template) -> bool:
    """The POST carries a token this site signed for this template, recently, and the
    browser (when it says) sent it from one of our own pages."""
    origin = request.headers.get("Origin")
    if (
        origin
        and origin != f"{request.scheme}://{request.get_host()}"
        and origin not in settings.CSRF_TRUSTED_ORIGINS
    ):
        return False
    try:
        payload = signing.TimestampSigner(salt=_FORM_SALT).unsign_object(
            request.POST.get(FORM_TOKEN_FIELD, ""), max_age=settings.EMBED_FORM_MAX_AGE
        )
    except signing.BadSignature:  # SignatureExpired included
        return False
    return isinstance(payload, dict) and payload.get("template") == template.pk


def job_capability(job: Job) -> str:
    """The part of the URL that opens this job's embedded pages (no expiry: it is the
    visitor's only way back to the result)."""
    return signing.Signer(salt=_JOB_SALT).sign(str(job.pk))


def _job_id(capability: str) -> UUID:
    try:
        return UUID(signing.Signer(salt=_JOB_SALT).unsign(capability))
    except (signing.BadSignature, ValueError):
        raise Http404 from None


def embedded_job_url(job: Job) -> str:
    return reverse("jobs:embedded", args=[job_capability(job)])


def _embedded_job_or_404(capability: str) -> Job:
    job = (
        Job.objects.select_related("template_version__template", "leader")
        .filter(pk=_job_id(capability), owner__isnull=True)
        .first()
    )
    if job is None or not job.template_version.template.embeddable:
        raise Http404
    return job


# --- Headers ----------------------------------------------------------------------


def allow_framing(response: HttpResponse, template: Template) -> HttpResponse:
    """Let the template's sites, and only them, frame this response (the CSP middleware
    leaves a header the view set alone)."""
    config = {**settings.SECURE_CSP, "frame-ancestors": template.frame_ancestors or [CSP.NONE]}
    response.headers[str(CSP.HEADER_ENFORCE)] = build_policy(config)
    return response


def embed_snippet(request: HttpRequest, template: Template) -> str:
    """The HTML a manager pastes into another site: the frame, and the optional script
    that lets the frame's height follow its content."""
    context = {
        "embed_url": request.build_absolute_uri(reverse("templates_app:embed", args=[template.slug])),
        "script_url": request.build_absolute_uri(settings.STATIC_URL + PARENT_SCRIPT),
        "title": template.display_name,
    }
    return render_to_string("jobs/includes/embed_snippet.html", context).strip()


# --- Views ------------------------------------------------------------------------


@csrf_exempt  # kept by the signed form token and the Origin check: no cookie reaches a frame
@xframe_options_exempt  # framing is decided by frame-ancestors, per template
@ratelimits.limit_posts("runs", as_visitor=True)  # the same limits as the site's form
@require_http_methods(["GET", "POST"])
def embed_template(request: HttpRequest, slug: str) -> HttpResponse:
    """The form alone, for a frame in another site (templates_app:embed); submitting it
    runs the template as an anonymous visitor and goes to the job's embedded page."""
    template = get_object_or_404(
        Template.objects.visible_to(None).runnable().select_related("published_version"), slug=slug
    )
    if not template.embeddable:
        raise Http404
    language = translation.get_language()
    form_class = parameter_form_class(
        template.published_version, language, settable_hidden=template.allow_prefill_hidden
    )
    if request.method == "GET":
        return _embed_page(request, template, form_class.from_query(request.GET), language)
    if request.rate_limit.exceeded:
        problem = _("You have run templates too often. Try again in %(seconds)d seconds.") % {
            "seconds": max(request.rate_limit.reset, 1)
        }
        return _embed_page(request, template, form_class(request.POST), language, problem=problem, status=429)
    if not form_token_is_valid(request, template):
        problem = _("This form had expired. Check your answers and send it again.")
        return _embed_page(request, template, form_class(request.POST), language, problem=problem, status=403)
    form = form_class(request.POST, request.FILES)
    problem = ""
    if form.is_valid():
        try:
            job = services.submit_generation(template.published_version, form.cleaned_data)
        except services.SubmissionError as exc:
            problem = str(exc)
        else:
            return redirect(embedded_job_url(job))
    return _embed_page(request, template, form, language, problem=problem)


def _embed_page(
    request: HttpRequest,
    template: Template,
    form: Any,
    language: str,
    *,
    problem: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        **run_form_context(template, form, language),
        "form_token": form_token(template),
        "form_token_field": FORM_TOKEN_FIELD,
        "problem": problem,
    }
    return allow_framing(render(request, "jobs/embed.html", context, status=status), template)


@xframe_options_exempt
@require_GET
def embedded_job(request: HttpRequest, capability: str) -> HttpResponse:
    """A job run from an embedded form, as the frame shows it (jobs:embedded)."""
    job = _embedded_job_or_404(capability)
    template = job.template_version.template
    streaming = streaming_enabled()
    shown = shown_progress(job)
    output = job.output if job.is_terminal else ("" if streaming else shown.output)
    own_url = reverse("jobs:embedded", args=[capability])
    context = {
        "job": job,
        "shown": shown,
        "template": template,
        "version": job.template_version,  # the theme of the version that ran
        "output": output,
        "answer_html": render_markdown(job.output) if job.is_terminal and job.output else "",
        "runnable": False,  # "Run again" and "Retry" belong to the site; the frame has its form
        "embedded": True,
        "streaming": streaming,
        "progress_url": reverse("jobs:embedded_progress", args=[capability]),
        "result_url": f"{own_url}?part=result",
        "events_url": reverse("jobs:embedded_events", args=[capability]),
        "poll_running_ms": settings.JOB_PAGE_POLL_RUNNING_MS,
        "poll_queued_ms": settings.JOB_PAGE_POLL_QUEUED_MS,
    }
    if request.GET.get("part") == "result":
        return allow_framing(render(request, "jobs/detail.html#result", context), template)
    return allow_framing(render(request, "jobs/embed_job.html", context), template)


@require_GET
def embedded_job_progress(request: HttpRequest, capability: str) -> HttpResponse:
    """The embedded job page's polls without Redis (as ``jobs:progress``)."""
    return progress_response(request, _embedded_job_or_404(capability))


async def embedded_job_events(request: HttpRequest, capability: str) -> HttpResponse:
    """The embedded job page's event stream (served under ASGI, as ``jobs:events``)."""
    if not streaming_enabled():
        raise Http404
    jobs = Job.objects.filter(pk=_job_id(capability), owner__isnull=True)
    # As _embedded_job_or_404, in one query: a template no longer embeddable streams nothing.
    jobs = jobs.filter(
        template_version__template__visibility=Visibility.PUBLIC,
        template_version__template__deleted_at__isnull=True,
    ).exclude(template_version__template__embed_origins=[])
    job = await jobs.only("id", "leader").afirst()
    if job is None:
        raise Http404
    formatter = PageEvents(translation.get_language(), "")
    return event_stream_response(job, request.headers.get("Last-Event-ID"), formatter)
