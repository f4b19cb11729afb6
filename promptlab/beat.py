"""Celery beat that never runs twice.

Beat runs as a process of its own (``beat`` in the Procfile and docker-compose),
not embedded in a worker: an embedded beat is a child process that outlives a
worker killed with ``kill -9`` (it is re-parented to PID 1 and keeps sending),
and the next worker brings a second one. Whatever starts beats, only the one
holding the lock sends anything; the others stand by, trying the lock every
third of ``BEAT_LOCK_SECONDS``, and take over when it is free.

The lock is in Redis when there is one (a key with a TTL the holder renews, so
it works across hosts and containers; a holder that dies frees it within
``BEAT_LOCK_SECONDS``), and otherwise an ``fcntl`` lock on a file under the var
folder (the embedded defaults run on one machine; the kernel frees it the moment
its holder dies).

The schedule is kept in memory, not in a shelve file that two beats could write
at once: its only tasks run at short intervals and are idempotent.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import redis
from celery.beat import Scheduler
from django.conf import settings

logger = logging.getLogger(__name__)

REDIS_LOCK_KEY = "promptlab:beat:lock"


class BeatLock(Protocol):
    def hold(self) -> bool:
        """Take or renew the lock; False while another beat holds it."""
        ...

    def release(self) -> None: ...


# A Redis that accepts connections but never answers must not hold tick() forever.
REDIS_LOCK_TIMEOUT = 2.0


class RedisBeatLock:
    def __init__(self, url: str, ttl: float) -> None:
        client = redis.Redis.from_url(
            url, socket_timeout=REDIS_LOCK_TIMEOUT, socket_connect_timeout=REDIS_LOCK_TIMEOUT
        )
        self._lock = client.lock(REDIS_LOCK_KEY, timeout=ttl, blocking=False, thread_local=False)
        self._held = False

    def hold(self) -> bool:
        try:
            if self._held:
                try:
                    self._lock.reacquire()
                    return True
                except redis.exceptions.LockNotOwnedError:
                    # It ran out while we could not renew it (Redis was away): ask again.
                    self._held = False
            self._held = bool(self._lock.acquire(blocking=False))
        except redis.RedisError:
            logger.exception("beat could not reach Redis for its lock; sending nothing meanwhile")
            return False
        return self._held

    def release(self) -> None:
        if self._held:
            with contextlib.suppress(redis.RedisError):  # it expires on its own
                self._lock.release()
            self._held = False


class FileBeatLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def hold(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for people
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def beat_lock() -> BeatLock:
    if settings.REDIS_URL:
        return RedisBeatLock(settings.REDIS_URL, settings.BEAT_LOCK_SECONDS)
    return FileBeatLock(settings.VAR_DIR / "celerybeat.lock")


class SingleBeatScheduler(Scheduler):
    """Celery's in-memory scheduler, sending nothing unless this beat holds the lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lock = beat_lock()
        self.renew_every = settings.BEAT_LOCK_SECONDS / 3
        self.holding: bool | None = None  # None: not tried yet
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        held = self.lock.hold()
        if held != self.holding:
            if held:
                logger.warning("This beat holds the lock and sends the schedule.")
            else:
                logger.warning(
                    "Another beat holds the lock; this one stands by and sends nothing until it is free."
                )
            self.holding = held
        if not held:
            return self.renew_every
        return min(super().tick(*args, **kwargs), self.renew_every)

    def close(self) -> None:
        super().close()
        self.lock.release()
