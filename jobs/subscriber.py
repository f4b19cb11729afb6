"""One Redis pub/sub connection per stream process, fanned out to every open stream.

Each open event stream registers a ``Listener`` (an in-process queue) for its
job's channel. The process holds a single ``redis.asyncio`` PubSub: a channel
is subscribed when its first listener arrives and unsubscribed when its last
one leaves, and every message read is decoded once and handed to the queues
of that channel's listeners. So 2,000 open streams cost 2,000 small queues,
not 2,000 Redis connections.

``listen()`` returns only once Redis has *confirmed* the subscription, so a
stream that then reads the saved output cannot miss a chunk published in
between. redis-py's PubSub would, after a dropped connection, reconnect and
re-subscribe on its own, losing whatever was published meanwhile without
anyone knowing; so its connection here is made with no retries at all, and a
lost connection ends every listener instead: their clients reconnect with
``Last-Event-ID`` and resume exactly where they were, and the next stream
opens a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff

logger = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT_SECONDS = 10.0
# A client too slow to read this many pending events is dropped; it reconnects
# and resumes from the saved output instead of growing the process.
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

    def pending(self) -> list[dict[str, Any]]:
        """The events delivered already, without waiting (so that a stream can send a
        burst in one write); a lost subscription is left for the next ``get``."""
        events = []
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event is None:
                self._queue.put_nowait(None)  # the last one: nothing is delivered after it
                break
            events.append(event)
        return events


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
        self._pubsub: PubSub | None = None
        self._connect_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()  # held: the loop keeps only weak references
        # No retry of any kind (none of the errors is "supported"): a retry would
        # reconnect and re-subscribe behind the listeners' backs.
        self._subscription_redis = aioredis.Redis.from_url(
            url,
            client_name=f"promptlab-streams-{os.getpid()}",
            retry=Retry(NoBackoff(), 0, supported_errors=()),
            socket_connect_timeout=SUBSCRIBE_TIMEOUT_SECONDS,
        )
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

    @contextlib.asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[Listener]:
        """Receive the channel's events from the moment this returns (subscription confirmed)."""
        listener = Listener()
        pubsub = await self._connected()
        listeners = self._listeners.setdefault(channel, set())
        listeners.add(listener)
        try:
            if len(listeners) == 1:
                confirmed = self.loop.create_future()
                self._confirmations.setdefault(channel, deque()).append(confirmed)
                self._subscribed[channel] = confirmed
                self._in_background(self._send(pubsub, pubsub.subscribe, channel))
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
            if self._pubsub is not None:
                self._in_background(self._send(self._pubsub, self._pubsub.unsubscribe, channel))

    async def _send(self, pubsub: PubSub, command: Callable[[str], Awaitable[Any]], channel: str) -> None:
        # Only on the connection still in use: a closed PubSub would open a new
        # connection for the command, subscribed, that nobody reads.
        if self._pubsub is pubsub:
            await command(channel)

    def _in_background(self, command: Coroutine[Any, Any, Any]) -> None:
        """Send a (UN)SUBSCRIBE without waiting: tasks start in the order they are made,
        so the commands reach Redis in the order they were given; a failure to send is
        the reader's to notice (the connection is gone)."""
        task = self.loop.create_task(command)
        self._tasks.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("the shared Redis subscriber could not send a command: %s", task.exception())

    async def _connected(self) -> PubSub:
        async with self._connect_lock:
            if self._pubsub is None:
                pubsub = self._subscription_redis.pubsub()
                await pubsub.connect()
                self._pubsub = pubsub
                self._in_background(self._read(pubsub))
            return self._pubsub

    async def _read(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is not None:
                    self._dispatch(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("the shared Redis subscriber lost its connection: %s", exc)
        finally:
            await self._drop_everyone(pubsub)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "message":
            listeners = self._listeners.get(message["channel"].decode())
            if listeners:
                event = json.loads(message["data"])  # decoded once for every listener
                for listener in listeners:
                    listener.deliver(event)
        elif message["type"] == "subscribe":
            channel = message["channel"].decode()
            waiting = self._confirmations.get(channel)
            if waiting:
                confirmed = waiting.popleft()
                if not waiting:
                    del self._confirmations[channel]
                if not confirmed.done():
                    confirmed.set_result(None)

    async def _drop_everyone(self, pubsub: PubSub) -> None:
        """The connection is gone: end every listener (their clients resume) and start afresh."""
        if self._pubsub is pubsub:
            self._pubsub = None
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
        await pubsub.aclose()


_subscriber: SharedSubscriber | None = None


def shared_subscriber() -> SharedSubscriber:
    """This process's subscriber (one per event loop: tests may run several loops)."""
    global _subscriber
    loop = asyncio.get_running_loop()
    if _subscriber is None or _subscriber.loop is not loop:
        _subscriber = SharedSubscriber(settings.REDIS_URL)
    return _subscriber
