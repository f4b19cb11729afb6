from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from uuid import UUID

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from .models import Job, JobStatus
from .streaming import JobPublisher, channel_name, decode, output_key, streaming_enabled


def _get_job_for_user(request: HttpRequest, job_id: UUID) -> Job:
    """The job if this user (or, for anonymous jobs, this browser session) may see it; else 404."""
    job = (
        Job.objects.visible_to(request.user, request.session.session_key)
        .select_related("template_version__template")
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
    context = {"job": job, "streaming": streaming_enabled()}
    if request.htmx:
        return render(request, "jobs/detail.html#job", context)
    return render(request, "jobs/detail.html", context)


@require_POST
def cancel_job(request: HttpRequest, job_id: UUID) -> HttpResponse:
    job = _get_job_for_user(request, job_id)
    if job.cancel():
        JobPublisher(job.id).status(JobStatus.CANCELLED, terminal=True)
        messages.success(request, _("The job was cancelled."))
    else:
        messages.info(request, _("The job had already finished."))
    return redirect(job)


# --- Event stream (served under ASGI) ---------------------------------------


def _sse(event: str, data: str, event_id: int | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


def _summary_renderer(language: str, csrf_token: str):  # type: ignore[no-untyped-def]
    """Render the job summary fragment in the stream's language, off the event loop."""

    def render_summary(job: Job) -> str:
        with translation.override(language):
            return render_to_string(
                "jobs/detail.html#summary", {"job": job, "streaming": True, "csrf_token": csrf_token}
            )

    return sync_to_async(render_summary)


def _resume_offset(request: HttpRequest) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("from") or "0"
    try:
        return max(int(raw), 0)
    except ValueError:
        return 0


async def job_events(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """Server-Sent Events for one job: output chunks (escaped HTML) and status.

    Access is checked once, when the stream opens; events need no database.
    """
    if not streaming_enabled():
        raise Http404
    user = await request.auser()
    session_key = request.session.session_key
    job = (
        await Job.objects.visible_to(user, session_key)
        .select_related("template_version__template")
        .filter(pk=job_id)
        .afirst()
    )
    if job is None:
        raise Http404
    summary = _summary_renderer(translation.get_language(), get_token(request))
    response = StreamingHttpResponse(
        _job_event_stream(job, _resume_offset(request), summary), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _reload(job: Job) -> Job:
    return await Job.objects.select_related("template_version__template").aget(pk=job.pk)


async def _job_event_stream(job: Job, sent: int, summary) -> AsyncIterator[bytes]:  # type: ignore[no-untyped-def]
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub()
    try:
        # Subscribe before reading what exists, so nothing falls in between.
        await pubsub.subscribe(channel_name(job.pk))
        job = await _reload(job)
        if job.is_terminal:
            backlog = job.output
        else:
            stored = await client.get(output_key(job.pk))
            backlog = stored.decode() if stored is not None else job.output
        if len(backlog) > sent:
            yield _sse("chunk", escape(backlog[sent:]), len(backlog))
            sent = len(backlog)
        yield _sse("status", await summary(job))
        if job.is_terminal:
            yield _sse("done", job.status)
            return
        while True:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=settings.JOB_STREAM_KEEPALIVE
            )
            if message is None:
                yield b": keep-alive\n\n"
                continue
            event = decode(message)
            if event is None:
                continue
            if event["type"] == "chunk":
                end = event["offset"] + len(event["text"])
                if end > sent:
                    yield _sse("chunk", escape(event["text"][max(sent - event["offset"], 0) :]), end)
                    sent = end
            elif event["type"] == "status":
                if event["status"] in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
                    job = await _reload(job)
                    if len(job.output) > sent:
                        yield _sse("chunk", escape(job.output[sent:]), len(job.output))
                    yield _sse("status", await summary(job))
                    yield _sse("done", job.status)
                    return
                job.status = event["status"]
                yield _sse("status", await summary(job))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(_close(pubsub, client))


async def _close(pubsub: aioredis.client.PubSub, client: aioredis.Redis) -> None:
    await pubsub.aclose()
    await client.aclose()
