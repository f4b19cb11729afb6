"""One Redis pub/sub connection per stream process, fanned out to every open stream.

Each open event stream registers a ``Listener`` (an in-process queue) for its
job's channel. The process holds a single subscriber connection: a channel
is subscribed when its first listener arrives and unsubscribed when its last
one leaves, and every message read is decoded once and handed to the queues
of that channel's listeners. So 2,000 open streams cost 2,000 small queues,
not 2,000 Redis connections.

``listen()`` returns only once Redis has *confirmed* the subscription, so a
stream that then reads the persisted output cannot miss a chunk published in
between. The connection speaks RESP directly (a few lines): redis-py's pub/sub
silently re-subscribes after a dropped connection, which would lose whatever
was published meanwhile without anyone knowing. Here a lost connection ends
every listener instead; their clients reconnect with ``Last-Event-ID`` and
resume exactly where they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import parse_url

logger = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT_SECONDS = 10.0
# A client too slow to read this many pending events is dropped; it reconnects
# and resumes from the persisted output instead of growing the process.
MAX_PENDING_EVENTS = 5000


class SubscriptionLost(Exception):
    """The shared connection dropped (or this listener fell too far behind)."""


class Listener:
    """One open stream's queue of events from one channel."""

    __slots__ = ("_queue", "lost")

    def __init__(self) -> None:
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.lost = False

    def deliver(self, event: dict[str, Any] | None) -> None:
        if self.lost:
            return
        if event is None or self._queue.qsize() >= MAX_PENDING_EVENTS:
            self.lost = True
            event = None
        self._queue.put_nowait(event)

    async def get(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None when ``timeout`` passes first."""
        try:
            event = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if event is None:
            raise SubscriptionLost
        return event


def _command(*parts: str | bytes) -> bytes:
    encoded = [part.encode() if isinstance(part, str) else part for part in parts]
    out = [b"*%d\r\n" % len(encoded)]
    for part in encoded:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


async def _read_reply(reader: asyncio.StreamReader) -> Any:
    line = await reader.readuntil(b"\r\n")
    kind, rest = line[:1], line[1:-2]
    if kind == b"*":
        return [await _read_reply(reader) for _ in range(int(rest))]
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b":":
        return int(rest)
    if kind == b"+":
        return rest
    if kind == b"-":
        raise ConnectionError(rest.decode(errors="replace"))
    raise ConnectionError(f"unexpected reply from Redis: {line[:40]!r}")


class SharedSubscriber:
    """The process's one pub/sub connection and the listeners of each channel."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.get_running_loop()
        self._listeners: dict[str, set[Listener]] = {}
        # Per channel, the futures waiting for Redis to confirm each SUBSCRIBE
        # sent (in order: commands on one connection are answered in order).
        self._confirmations: dict[str, deque[asyncio.Future[None]]] = {}
        self._subscribed: dict[str, asyncio.Future[None]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connect_lock = asyncio.Lock()
        self._client: aioredis.Redis | None = None

    @property
    def client(self) -> aioredis.Redis:
        """A small shared pool for ordinary reads (the output so far)."""
        if self._client is None:
            # A connection Redis closed (a restart) is dropped and the read tried
            # again on a new one, instead of ending the stream of whoever drew it.
            retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=3)
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=20, timeout=10, retry=retry
            )
            self._client = aioredis.Redis(connection_pool=pool)
        return self._client

    def channel_count(self) -> int:
        return len(self._listeners)

    @contextlib.asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[Listener]:
        """Receive the channel's events from the moment this returns (subscription confirmed)."""
        listener = Listener()
        writer = await self._connected()
        listeners = self._listeners.setdefault(channel, set())
        listeners.add(listener)
        try:
            if len(listeners) == 1:
                confirmed = self.loop.create_future()
                self._confirmations.setdefault(channel, deque()).append(confirmed)
                self._subscribed[channel] = confirmed
                writer.write(_command("SUBSCRIBE", channel))
            await asyncio.wait_for(asyncio.shield(self._subscribed[channel]), SUBSCRIBE_TIMEOUT_SECONDS)
            yield listener
        finally:
            self._remove(channel, listener)

    def _remove(self, channel: str, listener: Listener) -> None:
        # Synchronous on purpose: it runs in a cancelled stream's cleanup.
        listeners = self._listeners.get(channel)
        if listeners is None or listener not in listeners:
            return
        listeners.discard(listener)
        if not listeners:
            del self._listeners[channel]
            self._subscribed.pop(channel, None)
            if self._writer is not None:
                self._writer.write(_command("UNSUBSCRIBE", channel))

    async def _connected(self) -> asyncio.StreamWriter:
        async with self._connect_lock:
            if self._writer is not None:
                return self._writer
            options = parse_url(self.url)
            context = ssl.create_default_context() if self.url.startswith("rediss://") else None
            reader, writer = await asyncio.open_connection(
                options.get("host", "localhost"), options.get("port", 6379), ssl=context
            )
            if options.get("password"):
                auth = [options["username"], options["password"]] if options.get("username") else []
                writer.write(_command("AUTH", *(auth or [options["password"]])))
                await _read_reply(reader)
            writer.write(_command("CLIENT", "SETNAME", f"promptlab-streams-{os.getpid()}"))
            await _read_reply(reader)
            self._writer = writer
            self._reader_task = self.loop.create_task(self._read(reader, writer))
            return writer

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                reply = await _read_reply(reader)
                if not isinstance(reply, list) or len(reply) < 3:
                    continue
                kind, channel = reply[0], reply[1].decode()
                if kind == b"message":
                    listeners = self._listeners.get(channel)
                    if listeners:
                        event = json.loads(reply[2])  # decoded once for every listener
                        for listener in listeners:
                            listener.deliver(event)
                elif kind == b"subscribe":
                    waiting = self._confirmations.get(channel)
                    if waiting:
                        confirmed = waiting.popleft()
                        if not waiting:
                            del self._confirmations[channel]
                        if not confirmed.done():
                            confirmed.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("the shared Redis subscriber lost its connection: %s", exc)
        finally:
            self._drop_everyone(writer)

    def _drop_everyone(self, writer: asyncio.StreamWriter) -> None:
        """The connection is gone: end every listener (their clients resume) and start afresh."""
        if self._writer is writer:
            self._writer = None
        writer.close()
        for listeners in self._listeners.values():
            for listener in listeners:
                listener.deliver(None)
        for waiting in self._confirmations.values():
            for confirmed in waiting:
                if not confirmed.done():
                    confirmed.set_exception(SubscriptionLost())
        self._listeners.clear()
        self._confirmations.clear()
        self._subscribed.clear()


_subscriber: SharedSubscriber | None = None


def shared_subscriber() -> SharedSubscriber:
    """This process's subscriber (one per event loop: tests may run several loops)."""
    global _subscriber
    loop = asyncio.get_running_loop()
    if _subscriber is None or _subscriber.loop is not loop:
        _subscriber = SharedSubscriber(settings.REDIS_URL)
    return _subscriber
