"""The job event stream (Server-Sent Events), shared by the page and the API.

The stream subscribes to the job's Redis channel (through the process's one
shared subscriber, ``subscriber.py``) and only once Redis has confirmed it
reads what exists (the output so far), so nothing falls in between; ``_OutputStream`` then makes
sure no character is sent twice, across retries (``reset``) and reconnects
(``Last-Event-ID``). Formatters decide how events look: escaped HTML for htmx
on the job page, JSON for scripts.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import escape
from redis.exceptions import RedisError

from promptlab.database import release_connection

from . import telemetry
from .models import TERMINAL_STATUSES, Job
from .streaming import channel_name, event_id, output_key, parse_event_id
from .subscriber import SharedSubscriber, SubscriptionLost, shared_subscriber

logger = logging.getLogger(__name__)


def sse(event: str, data: str, id_: str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if id_ is not None:
        lines.append(f"id: {id_}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


class EventFormatter(Protocol):
    def jobs(self) -> QuerySet[Job]:
        """How to load a job for ``status``: no more than it reads."""
        ...

    def chunk(self, text: str) -> str: ...

    def reset(self, attempt: int) -> str: ...

    async def status(self, job: Job) -> str: ...


class PageEvents:
    """For htmx on the job page: escaped text and the rendered summary fragment."""

    def __init__(self, language: str, csrf_token: str) -> None:
        self.language = language
        self.csrf_token = csrf_token

    def jobs(self) -> QuerySet[Job]:
        return Job.objects.select_related("template_version__template")

    def chunk(self, text: str) -> str:
        return escape(text)

    def reset(self, attempt: int) -> str:
        # The output is emptied in place (it keeps its listeners). A comment,
        # because EventSource drops events whose data is empty.
        return "<!-- reset -->"

    async def status(self, job: Job) -> str:
        return await sync_to_async(self._render)(job)

    def _render(self, job: Job) -> str:
        with translation.override(self.language):
            context = {"job": job, "streaming": True, "csrf_token": self.csrf_token}
            return render_to_string("jobs/detail.html#summary", context)


class ApiEvents:
    """For scripts: JSON. A status is the job's status fields as the API writes them
    (``JobStatusSerializer``), from a row read with those columns and the output only."""

    def jobs(self) -> QuerySet[Job]:
        from .api.serializers import JobStatusSerializer

        return Job.objects.only(*JobStatusSerializer.columns)

    def chunk(self, text: str) -> str:
        return json.dumps({"text": text})

    def reset(self, attempt: int) -> str:
        return json.dumps({"attempt": attempt})

    async def status(self, job: Job) -> str:
        # In the event loop, not a thread: the fields are all loaded (any query here
        # would raise SynchronousOnlyOperation rather than block the loop).
        return json.dumps(_status_serializer().to_representation(job), default=str)


@functools.cache
def _status_serializer() -> Any:
    """One serializer, its fields bound once, for every status event of the process, as
    a list serializer reuses its child for every item: binding a serializer's fields
    cost more than writing the event. Safe to share: it runs only in the event loop's
    one thread, keeps no state between jobs and needs no request."""
    from .api.serializers import JobStatusSerializer

    return JobStatusSerializer()


def sse_response(events: AsyncGenerator[bytes, None]) -> StreamingHttpResponse:
    """An event stream's response (a job's, a batch's): never cached nor held by a proxy,
    and counted in EVENT_STREAMS while it is open."""
    response = StreamingHttpResponse(_counted(events), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _counted(events: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    telemetry.EVENT_STREAMS.inc()
    try:
        # aclosing: a client that goes away closes this generator, and the stream it
        # relays must then end (leave its channel) at once, not whenever it is collected.
        async with contextlib.aclosing(events) as stream:
            async for event in stream:
                yield event
    finally:
        telemetry.EVENT_STREAMS.dec()


def event_stream_response(
    job: Job, last_event_id: str | None, formatter: EventFormatter
) -> StreamingHttpResponse:
    return sse_response(_job_event_stream(job, parse_event_id(last_event_id), formatter))


class _OutputStream:
    """What one client has been sent of one source's output; never sends a character twice."""

    def __init__(self, source_id: object, attempt: int, formatter: EventFormatter) -> None:
        self.source_id = source_id
        self.attempt = attempt
        self.formatter = formatter
        self.sent = 0

    def resume(self, last: tuple[str, int, int] | None) -> bytes:
        """Continue where the client's Last-Event-ID says; otherwise start it afresh."""
        if last is not None and last[:2] == (str(self.source_id)[:8], self.attempt):
            self.sent = last[2]
            return b""
        return self.restart(self.attempt)

    def restart(self, attempt: int) -> bytes:
        """Clear what the client shows (a new attempt, or a client we can't place)."""
        self.attempt, self.sent = attempt, 0
        return sse("reset", self.formatter.reset(attempt))

    def text(self, offset: int, text: str) -> bytes:
        end = offset + len(text)
        if end <= self.sent or offset > self.sent:
            return b""  # already sent, or (never expected) a gap
        new, self.sent = text[self.sent - offset :], end
        return sse("chunk", self.formatter.chunk(new), event_id(self.source_id, self.attempt, end))


_release_database = sync_to_async(release_connection)


@sync_to_async
def _read_job(jobs: QuerySet[Job], pk: object, *, source: bool = False) -> tuple[Job, Job]:
    """The job (as ``jobs`` loads it) and whose output it shows (its leader's while it
    follows one), in one hop to the sync thread, which then hands its database
    connection back to the pool: a stream holds none while it waits for events."""
    try:
        job = jobs.get(pk=pk)
        if not source or job.is_terminal or job.leader_id is None:
            return job, job
        return job, Job.objects.only("id", "attempts", "output").get(pk=job.leader_id)
    finally:
        connection.close()


async def _stored_output(subscriber: SharedSubscriber, source_id: object, attempt: int) -> str | None:
    stored = await subscriber.client.get(output_key(source_id, attempt))
    return stored.decode() if stored is not None else None


def _backlog(stored: str | None, saved: str) -> str:
    """The output so far: Redis's copy unless it is not the database's plus more.

    After a Redis restart the stored output may be missing or (written by a
    worker that did not know) only a later part of the text; the database's
    periodic save is then the truth, and later chunks fill in from there.
    """
    return stored if stored is not None and stored.startswith(saved) else saved


async def _output_so_far(subscriber: SharedSubscriber, source_id: object, attempt: int) -> str:
    saved = await Job.objects.filter(pk=source_id).values_list("output", flat=True).afirst()
    await _release_database()
    return _backlog(await _stored_output(subscriber, source_id, attempt), saved or "")


async def _job_event_stream(
    job: Job, resume: tuple[str, int, int] | None, formatter: EventFormatter
) -> AsyncIterator[bytes]:
    try:
        yield b"retry: 1000\n\n"
        # aclosing: a client that goes away closes this generator, and the relay
        # must then leave its channel at once, not whenever it is collected.
        async with contextlib.aclosing(_relay(job, resume, formatter)) as relay:
            async for event in relay:
                yield event
    except (OSError, RedisError, SubscriptionLost, TimeoutError) as exc:
        # Redis is down or restarting: end the stream; the client reconnects in
        # a second and resumes from its Last-Event-ID.
        logger.warning("event stream of job %s ended: Redis unavailable (%s)", job.pk, exc)


async def _relay(
    job: Job, resume: tuple[str, int, int] | None, formatter: EventFormatter
) -> AsyncIterator[bytes]:
    subscriber = shared_subscriber()
    async with subscriber.listen(channel_name(job.leader_id or job.pk)) as events:
        # From here on events need no database: _read_job hands the connection back.
        job, source = await _read_job(formatter.jobs(), job.pk, source=True)
        if job.is_terminal:
            source_id, attempt, backlog = job.pk, job.attempts, job.output
        else:
            source_id, attempt = source.pk, source.attempts
            backlog = _backlog(await _stored_output(subscriber, source_id, attempt), source.output)
        stream = _OutputStream(source_id, attempt, formatter)
        opening = stream.resume(resume) + stream.text(0, backlog) + sse("status", await formatter.status(job))
        if job.is_terminal:
            yield opening + sse("done", job.status)
            return
        yield opening
        while True:
            try:
                first: dict[str, Any] | None = await events.get(settings.JOB_STREAM_KEEPALIVE)
            except SubscriptionLost:
                return  # the client reconnects and resumes from its Last-Event-ID
            if first is None:
                yield b": keep-alive\n\n"
                continue
            # The events already waiting go out with this one, in one write: a fast
            # provider's chunks come in bursts, and each write costs the server a send.
            sent = b""
            for event in (first, *events.pending()):
                if event["type"] == "reset" or event["attempt"] > stream.attempt:
                    sent += stream.restart(event["attempt"])
                if event["type"] == "chunk" and event["attempt"] == stream.attempt:
                    if event["offset"] > stream.sent:
                        # Text this stream never had (after a Redis restart its backlog was
                        # the database's, a little behind): fill in from the output so far.
                        sent += stream.text(
                            0, await _output_so_far(subscriber, stream.source_id, stream.attempt)
                        )
                    sent += stream.text(event["offset"], event["text"])
                elif event["type"] == "status" and event["status"] in TERMINAL_STATUSES:
                    # The one read after the subscription: the final row as the formatter needs it.
                    job, _source = await _read_job(formatter.jobs(), job.pk)
                    sent += sse("status", await formatter.status(job))
                    if not job.is_terminal:
                        # Its leader was cancelled and it was handed on: end this stream,
                        # and the client's reconnect follows the new source.
                        yield sent
                        return
                    if stream.source_id == job.pk and stream.attempt == job.attempts:
                        sent += stream.text(0, job.output)
                    else:
                        sent += stream.restart(job.attempts) + stream.text(0, job.output)
                    yield sent + sse("done", job.status)
                    return
                elif event["type"] == "status":
                    job.status = event["status"]
                    sent += sse("status", await formatter.status(job))
            yield sent
