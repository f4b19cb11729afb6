"""A workflow run's event stream (Server-Sent Events), for its job page and the API.

The engine appends every event of a run to one Redis stream (``step``: a step's status
changed; ``chunk``: a running step's text; ``run``: the run's status). Unlike the job
channel (pub/sub, ``events.py``), a stream keeps its entries, so the SSE ``id:`` of each
event is its stream entry id and a client that reconnects with ``Last-Event-ID`` is sent
exactly the entries after it (XREAD). Every entry read moves the client's id, even one
that sends nothing (an event of only ``id:``, which EventSource records and does not
dispatch): a resumed client is never sent an entry twice.

The page's first connection starts with the steps as they are (its ``opening``): the
statuses from the database and a running step's text folded from the stream's own
chunks up to the entry the opening names, so what follows fits exactly. A later render
of a running step keeps the text the page already has (``hx-preserve``).

Without Redis (the embedded default) there is no stream: the page polls its steps.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import StreamingHttpResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import escape
from redis.exceptions import RedisError

from .events import sse, sse_response
from .models import Job
from .streaming import aread_workflow_events
from .workflow_page import (
    RETRYABLE_RUN_STATUSES,
    TERMINAL_STEP_STATUSES,
    StepShown,
    step_dom_id,
    step_rows,
    workflow_shown,
)

logger = logging.getLogger(__name__)

Key = tuple[str, int | None]
# Entries read at once: a burst of chunks goes out in one write.
READ_COUNT = 500
_STREAM_ID = re.compile(r"^\d+-\d+$")
# What opening a job's stream loads: enough to know whether it is a workflow run (the
# stream reads the rest once it runs).
STREAM_OPENING_FIELDS = ("id", "leader", "part_of", "template_version", "template_version__steps")


def stream_id(raw: str | None) -> str | None:
    """A Last-Event-ID that is a stream entry id ("1700000000000-0"), else None."""
    return raw if raw and _STREAM_ID.match(raw) else None


def event_key(event: dict[str, Any]) -> Key:
    item = event.get("item")
    item = None if item in (None, "", -1, "-1") else int(item)
    return str(event.get("step") or event.get("name") or ""), item


def is_run_end(event: dict[str, Any]) -> bool:
    return event.get("type") == "run" and bool(
        event.get("terminal") or event.get("status") in ("succeeded", "failed", "cancelled")
    )


class WorkflowFormatter(Protocol):
    async def opening(self, client: aioredis.Redis, job: Job, cursor: str | None) -> tuple[bytes, str]: ...

    async def event(self, entry_id: str, event: dict[str, Any]) -> bytes: ...

    async def end(self, run: Job) -> bytes:
        """The last events, for the run as it ended (read with ``_read``)."""
        ...


@sync_to_async
def _read(job_id: object) -> Job:
    """The run with its version and steps, in one hop to the sync thread, which then
    hands its database connection back: a stream holds none while it waits."""
    try:
        job = Job.objects.select_related("template_version__template").get(pk=job_id)
        step_rows(job)  # loaded here, not in the event loop
        return job
    finally:
        connection.close()


class ApiWorkflowEvents:
    """For scripts: each entry as JSON, ``step`` on every step and chunk event."""

    async def opening(self, client: aioredis.Redis, job: Job, cursor: str | None) -> tuple[bytes, str]:
        return b"", cursor or "0-0"  # a first connection is sent the run's events from its start

    async def event(self, entry_id: str, event: dict[str, Any]) -> bytes:
        kind = str(event.get("type") or "step")
        data = {name: value for name, value in event.items() if name != "type"}
        if kind in ("step", "chunk"):
            name, item = event_key(event)
            data = {**data, "step": name, "item": item}
            data.pop("name", None)
        return sse(kind, json.dumps(data, default=str), entry_id)

    async def end(self, run: Job) -> bytes:
        return sse("done", run.status)


@dataclass
class _Text:
    """What the page has of one running step's text (folded from the stream's chunks)."""

    text: str = ""
    source: tuple[Any, Any] | None = None  # (job, attempt): another one starts the text afresh

    def add(self, event: dict[str, Any]) -> tuple[str, bool]:
        """Take a chunk event: (text to append, or the whole text with True when the
        step's text starts over: a new attempt, a JSON answer asked again, a reset)."""
        offset, text = int(event.get("offset") or 0), str(event.get("text") or "")
        source = (event.get("job"), event.get("attempt"))
        if event.get("reset") or (self.source is not None and source != self.source):
            self.text, self.source = text, source
            return text, True
        self.source = source
        end = offset + len(text)
        if end <= len(self.text):
            return "", False  # had it already
        new = text[max(len(self.text) - offset, 0) :]
        self.text += new
        return new, False


@dataclass
class PageWorkflowEvents:
    """For the job page (htmx): each event as fragments swapped out of band."""

    language: str
    csrf_token: str
    texts: dict[Key, _Text] = field(default_factory=dict)
    finished: set[Key] = field(default_factory=set)  # rendered with a final status
    job_id: Any = None
    # Another member's run, seen through the workspace: its end shows no retry.
    read_only: bool = False

    def _render(self, name: str, context: dict[str, Any]) -> str:
        with translation.override(self.language):
            base = {
                "csrf_token": self.csrf_token,
                "streaming": True,
                "workflow": True,
                "read_only": self.read_only,
            }
            return render_to_string(f"jobs/includes/workflow.html#{name}", {**base, **context})

    def _outputs(self) -> dict[Key, str]:
        return {key: text.text for key, text in self.texts.items()}

    def _note(self, steps: list[StepShown]) -> None:
        for step in steps:
            for shown in (step, *step.items):
                key = (shown.name, shown.item)
                if shown.is_terminal:
                    self.finished.add(key)
                    self.texts.pop(key, None)
                else:
                    self.finished.discard(key)

    async def opening(self, client: aioredis.Redis, job: Job, cursor: str | None) -> tuple[bytes, str]:
        self.job_id = job.pk
        if cursor is not None:
            return b"", cursor  # resumed: the page has everything up to its id
        # The steps as they are: running steps' text folded from the stream up to `last`.
        last = "0-0"
        while batch := await aread_workflow_events(client, job.pk, last, count=READ_COUNT):
            last = batch[-1][0]
            for _entry, event in batch:
                if event.get("type") == "chunk":
                    self.texts.setdefault(event_key(event), _Text()).add(event)
                elif event.get("type") == "step" and event.get("status") == "running":
                    self.texts[event_key(event)] = _Text()  # (again): a retry starts its text afresh
        run = await _read(job.pk)
        shown = workflow_shown(run, self._outputs())
        self._note(shown.steps)
        html = self._render("stream_opening", {"job": run, "workflow": shown, "oob": True})
        return sse("step", html, last), last

    async def event(self, entry_id: str, event: dict[str, Any]) -> bytes:
        kind = event.get("type")
        key = event_key(event)
        if kind == "chunk":
            if key in self.finished:
                return f"id: {entry_id}\n\n".encode()  # its final text is on the page
            new, restart = self.texts.setdefault(key, _Text()).add(event)
            if not new and not restart:
                return f"id: {entry_id}\n\n".encode()
            style = "innerHTML" if restart else "beforeend"
            html = f'<span hx-swap-oob="{style}:#{step_dom_id(*key)}-output">{escape(new)}</span>'
            return sse("chunk", html, entry_id)
        run = await _read(self.job_id)
        if kind == "step":
            if event.get("status") == "running":
                self.finished.discard(key)
                self.texts[key] = _Text()
            shown = workflow_shown(run, self._outputs())
            step = next((s for s in shown.steps if s.name == key[0]), None)
            if step is None:
                return f"id: {entry_id}\n\n".encode()
            target = step if key[1] is None else next((i for i in step.items if i.item == key[1]), step)
            changed = [target] if target.status in TERMINAL_STEP_STATUSES | {"running"} else []
            self._note([step])
            context = {"job": run, "workflow": shown, "step": step, "changed": changed, "oob": True}
            html = self._render("stream_step", {**context, "preserve": True})
            return sse("step", html, entry_id)
        html = self._render("stream_run", {"job": run, "workflow": workflow_shown(run), "oob": True})
        return sse("run", html, entry_id)

    async def end(self, run: Job) -> bytes:
        shown = workflow_shown(run)
        context = {"job": run, "workflow": shown, "retryable_statuses": RETRYABLE_RUN_STATUSES, "oob": True}
        html = self._render("stream_end", context)
        return sse("run", html) + sse("done", run.status)


def workflow_stream_response(
    job: Job, last_event_id: str | None, formatter: WorkflowFormatter
) -> StreamingHttpResponse:
    return sse_response(_stream(job, stream_id(last_event_id), formatter))


async def _stream(job: Job, cursor: str | None, formatter: WorkflowFormatter) -> AsyncIterator[bytes]:
    # A connection of its own: XREAD BLOCK holds it while it waits, and the shared pool
    # (subscriber.py) is for short reads.
    client = aioredis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=settings.JOB_STREAM_KEEPALIVE + 10,
        socket_connect_timeout=5,
    )
    try:
        yield b"retry: 1000\n\n"
        opening, cursor = await formatter.opening(client, job, cursor)
        if opening:
            yield opening
        block = int(settings.JOB_STREAM_KEEPALIVE * 1000)
        # A run over already: what its stream holds after the cursor, then the end.
        ended = (await _read(job.pk)).is_terminal
        while True:
            reply = await aread_workflow_events(
                client, job.pk, cursor, None if ended else block, count=READ_COUNT
            )
            if not reply and ended:
                yield await formatter.end(await _read(job.pk))
                return
            if not reply:
                # Nothing for a while: if the run ended and its last event was lost
                # (Redis is best effort), end the stream from the database's word.
                current = await _read(job.pk)
                if current.is_terminal:
                    yield await formatter.end(current)
                    return
                yield b": keep-alive\n\n"
                continue
            out = b""
            for cursor, event in reply:
                out += await formatter.event(cursor, event)
                if is_run_end(event):
                    yield out + await formatter.end(await _read(job.pk))
                    return
            yield out
    except (OSError, RedisError, TimeoutError) as exc:
        # Redis is down or restarting: end the stream; the client reconnects in a
        # second and resumes from its Last-Event-ID.
        logger.warning("workflow stream of job %s ended: Redis unavailable (%s)", job.pk, exc)
    finally:
        await client.aclose()
