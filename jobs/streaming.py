"""Live job events over Redis: the worker publishes, the stream view relays.

Every chunk is appended to a Redis string *and* published in one MULTI/EXEC,
so a reader that subscribes first and then reads the string sees every chunk
exactly once: either inside the string or as a later message. Each attempt
has its own string; a retry starts with a ``reset`` event. Event ids say
whose output, which attempt and how many characters so far, so a client that
reconnects with ``Last-Event-ID`` resumes exactly where it stopped.

Without Redis (the embedded default) nothing is published and the job page
polls instead.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import redis
from django.conf import settings

OUTPUT_TTL_SECONDS = 3600
TERMINAL_OUTPUT_TTL_SECONDS = 60


def channel_name(job_id: object) -> str:
    return f"promptlab:job:{job_id}:events"


def output_key(job_id: object, attempt: int) -> str:
    return f"promptlab:job:{job_id}:output:{attempt}"


def streaming_enabled() -> bool:
    return bool(settings.REDIS_URL)


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


class JobPublisher:
    """Publishes one attempt's chunks and status changes (a no-op without Redis)."""

    def __init__(self, job_id: object, attempt: int) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.enabled = streaming_enabled()

    def _publish(self, pipe: Any, message: dict[str, Any]) -> None:
        pipe.publish(channel_name(self.job_id), json.dumps({**message, "attempt": self.attempt}))

    def reset(self) -> None:
        if self.enabled:
            pipe = _client().pipeline(transaction=True)
            pipe.delete(output_key(self.job_id, self.attempt))
            self._publish(pipe, {"type": "reset"})
            pipe.execute()

    def chunk(self, offset: int, text: str) -> None:
        if not self.enabled:
            return
        key = output_key(self.job_id, self.attempt)
        pipe = _client().pipeline(transaction=True)
        pipe.append(key, text)
        pipe.expire(key, OUTPUT_TTL_SECONDS)
        self._publish(pipe, {"type": "chunk", "offset": offset, "text": text})
        pipe.execute()

    def status(self, status: str, *, terminal: bool = False) -> None:
        if not self.enabled:
            return
        pipe = _client().pipeline(transaction=True)
        self._publish(pipe, {"type": "status", "status": status})
        if terminal:
            # The database holds the whole output now; late readers use it.
            pipe.expire(output_key(self.job_id, self.attempt), TERMINAL_OUTPUT_TTL_SECONDS)
        pipe.execute()


def publish_status(job_id: object, attempt: int, status: str, *, terminal: bool = False) -> None:
    JobPublisher(job_id, attempt).status(status, terminal=terminal)


def event_id(source: object, attempt: int, offset: int) -> str:
    """Where a stream stands: whose output (a job id prefix), which attempt, how far."""
    return f"{str(source)[:8]}-{attempt}-{offset}"


def parse_event_id(raw: str | None) -> tuple[str, int, int] | None:
    """``"1a2b3c4d-2-150"`` → ("1a2b3c4d", 2, 150); None for anything else."""
    parts = (raw or "").split("-")
    if len(parts) != 3:
        return None
    try:
        return parts[0], int(parts[1]), max(int(parts[2]), 0)
    except ValueError:
        return None
