"""A batch's progress as Server-Sent Events, for the batch page (htmx) and the API (JSON).

Every event is a whole snapshot of the counters, not a delta: the worker publishes a
bare "something changed" on the batch's channel (after each row's terminal change
commits), and the stream re-reads the batch row, at most every
``PROGRESS_MIN_INTERVAL`` seconds however many rows finish meanwhile (a fast provider
finishes hundreds a second). A snapshot's event id is its counters, so a client that
reconnects with ``Last-Event-ID`` is sent nothing until something changed, and a
client that missed events misses nothing: the next snapshot holds them all.

It subscribes first and reads afterwards (as the job stream does), so a change
between the two is never lost: at worst it is read twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import StreamingHttpResponse
from django.template.loader import render_to_string
from django.utils import translation
from redis.exceptions import RedisError

from jobs.events import sse, sse_response
from jobs.subscriber import SubscriptionLost, shared_subscriber

from .models import Batch
from .progress import channel_name, progress_event

logger = logging.getLogger(__name__)

# At most this often a stream reads the batch again: its counters are one row.
PROGRESS_MIN_INTERVAL = 0.25


class ProgressFormatter(Protocol):
    def render(self, batch: Batch) -> str: ...


class PageProgress:
    """The batch page's progress fragment (HTML), in the page's language."""

    def __init__(self, language: str, context: dict[str, Any]) -> None:
        self.language = language
        # What the fragment's controls need besides the batch (the CSRF token of the
        # page's forms, the downloads, whether it compares).
        self.context = context

    def render(self, batch: Batch) -> str:
        with translation.override(self.language):
            context = {**self.context, "batch": batch, "streaming": True, "live_update": True}
            return render_to_string("batches/detail.html#progress", context)


class ApiProgress:
    """For scripts: the batch's figures as JSON, as its Redis events carry them."""

    def render(self, batch: Batch) -> str:
        return json.dumps(progress_event(batch))


def snapshot_id(batch: Batch) -> str:
    """What a snapshot says, as an event id: equal ids, equal snapshots."""
    return "-".join(
        str(value)
        for value in (
            batch.state, batch.pending, batch.running, batch.succeeded, batch.failed, batch.cancelled,
        )
    )  # fmt: skip


def stream_is_over(batch: Batch) -> bool:
    """Nothing more will change unless someone retries (which reloads the page)."""
    return not batch.is_active and batch.running == 0


@sync_to_async
def _read_batch(batch_id: object, formatter: ProgressFormatter) -> tuple[Batch | None, str]:
    """The batch and its rendered snapshot (None once it is deleted), in one hop to the
    sync thread, which then hands its database connection back: a stream holds none
    while it waits."""
    try:
        batch = Batch.objects.filter(pk=batch_id).first()
        return batch, formatter.render(batch) if batch is not None else ""
    finally:
        connection.close()


def progress_stream_response(
    batch: Batch, last_event_id: str | None, formatter: ProgressFormatter
) -> StreamingHttpResponse:
    return sse_response(_progress_stream(batch.pk, last_event_id, formatter))


async def _progress_stream(
    batch_id: object, last_event_id: str | None, formatter: ProgressFormatter
) -> AsyncIterator[bytes]:
    try:
        yield b"retry: 2000\n\n"
        async with contextlib.aclosing(_relay(batch_id, last_event_id, formatter)) as relay:
            async for event in relay:
                yield event
    except (OSError, RedisError, SubscriptionLost, TimeoutError) as exc:
        # Redis is down or restarting: end the stream; the client reconnects and is
        # sent the snapshot of that moment.
        logger.warning("progress stream of batch %s ended: Redis unavailable (%s)", batch_id, exc)


async def _relay(batch_id: object, sent_id: str | None, formatter: ProgressFormatter) -> AsyncIterator[bytes]:
    subscriber = shared_subscriber()
    async with subscriber.listen(channel_name(batch_id)) as events:
        read_at = 0.0
        while True:
            batch, rendered = await _read_batch(batch_id, formatter)
            if batch is None:
                return  # deleted (its owner's account went): nothing more to say
            read_at = time.monotonic()
            out = b""
            if (current := snapshot_id(batch)) != sent_id:
                out, sent_id = sse("progress", rendered, current), current
            if stream_is_over(batch):
                yield out + sse("done", batch.state)
                return
            if out:
                yield out
            while True:
                try:
                    event: dict[str, Any] | None = await events.get(settings.JOB_STREAM_KEEPALIVE)
                except SubscriptionLost:
                    return  # the client reconnects
                if event is not None:
                    break
                yield b": keep-alive\n\n"
            # A burst of rows finishing makes one read: wait out the interval, then let
            # the events that came meanwhile go (the read below sees what they say).
            if (pause := PROGRESS_MIN_INTERVAL - (time.monotonic() - read_at)) > 0:
                await asyncio.sleep(pause)
            events.pending()
