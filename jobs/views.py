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

from .models import TERMINAL_STATUSES, Job, JobStatus
from .streaming import (
    channel_name,
    decode,
    event_id,
    output_key,
    parse_event_id,
    publish_status,
    streaming_enabled,
)


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
    if job.cancel():
        publish_status(job.pk, job.attempts, JobStatus.CANCELLED, terminal=True)
        messages.success(request, _("The job was cancelled."))
    else:
        messages.info(request, _("The job had already finished."))
    return redirect(job)


# --- Event stream (served under ASGI) ---------------------------------------


def _sse(event: str, data: str, id_: str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if id_ is not None:
        lines.append(f"id: {id_}")
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


async def job_events(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """Server-Sent Events for one job: output chunks (escaped HTML) and status.

    Access is checked once, when the stream opens; events need no database.
    """
    if not streaming_enabled():
        raise Http404
    user = await request.auser()
    job = await Job.objects.visible_to(user, request.session.session_key).filter(pk=job_id).afirst()
    if job is None:
        raise Http404
    summary = _summary_renderer(translation.get_language(), get_token(request))
    resume = parse_event_id(request.headers.get("Last-Event-ID"))
    response = StreamingHttpResponse(
        _job_event_stream(job, resume, summary), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _reload(job: Job) -> Job:
    return await Job.objects.select_related("template_version__template").aget(pk=job.pk)


async def _job_event_stream(  # type: ignore[no-untyped-def]
    job: Job, resume: tuple[str, int, int] | None, summary
) -> AsyncIterator[bytes]:
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub()
    try:
        yield b"retry: 1000\n\n"
        # Subscribe before reading what exists, so nothing falls in between.
        source_id = job.leader_id or job.pk
        await pubsub.subscribe(channel_name(source_id))
        job = await _reload(job)
        if job.is_terminal:
            source_id, attempt, backlog = job.pk, job.attempts, job.output
        else:
            source = job if job.leader_id is None else await Job.objects.aget(pk=job.leader_id)
            source_id, attempt = source.pk, source.attempts
            stored = await client.get(output_key(source_id, attempt))
            backlog = stored.decode() if stored is not None else source.output
        stream = _OutputStream(source_id, attempt)
        yield stream.resume(resume)
        yield stream.text(0, backlog)
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
            if event["type"] == "reset" or event["attempt"] > stream.attempt:
                yield stream.restart(event["attempt"])
            if event["type"] == "chunk" and event["attempt"] == stream.attempt:
                yield stream.text(event["offset"], event["text"])
            elif event["type"] == "status" and event["status"] in TERMINAL_STATUSES:
                job = await _reload(job)
                yield _sse("status", await summary(job))
                if not job.is_terminal:
                    # Its leader was cancelled and it was handed on: end this stream,
                    # and the browser's reconnect follows the new source.
                    return
                if stream.source_id == job.pk and stream.attempt == job.attempts:
                    yield stream.text(0, job.output)
                else:
                    yield stream.restart(job.attempts) + stream.text(0, job.output)
                yield _sse("done", job.status)
                return
            elif event["type"] == "status":
                job.status = event["status"]
                yield _sse("status", await summary(job))
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(_close(pubsub, client))


class _OutputStream:
    """What one browser has been sent of one source's output; never sends a character twice."""

    def __init__(self, source_id: object, attempt: int) -> None:
        self.source_id = source_id
        self.attempt = attempt
        self.sent = 0

    def resume(self, last: tuple[str, int, int] | None) -> bytes:
        """Continue where the browser's Last-Event-ID says; otherwise start it afresh."""
        if last is not None and last[:2] == (str(self.source_id)[:8], self.attempt):
            self.sent = last[2]
            return b""
        return self.restart(self.attempt)

    def restart(self, attempt: int) -> bytes:
        """Clear what the browser shows (a new attempt, or a browser we can't place)."""
        self.attempt, self.sent = attempt, 0
        # Emptied in place (the output element keeps its listeners). A comment,
        # because EventSource drops events whose data is empty.
        return _sse("reset", "<!-- reset -->")

    def text(self, offset: int, text: str) -> bytes:
        end = offset + len(text)
        if end <= self.sent or offset > self.sent:
            return b""  # already sent, or (never expected) a gap
        new, self.sent = text[self.sent - offset :], end
        return _sse("chunk", escape(new), event_id(self.source_id, self.attempt, end))


async def _close(pubsub: aioredis.client.PubSub, client: aioredis.Redis) -> None:
    await pubsub.aclose()
    await client.aclose()
