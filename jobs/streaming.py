"""Live job events over Redis: the worker publishes, the stream view relays.

Every chunk is appended to a Redis string *and* published in one MULTI/EXEC,
so a reader that subscribes first and then reads the string sees every chunk
exactly once: either inside the string or as a later message. Offsets are
character positions in the output; they are the SSE event ids, so a client
that reconnects with ``Last-Event-ID`` resumes where it stopped.

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


def output_key(job_id: object) -> str:
    return f"promptlab:job:{job_id}:output"


def streaming_enabled() -> bool:
    return bool(settings.REDIS_URL)


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


class JobPublisher:
    """Publishes one job's chunks and status changes (a no-op without Redis)."""

    def __init__(self, job_id: object) -> None:
        self.job_id = job_id
        self.enabled = streaming_enabled()

    def reset(self) -> None:
        if self.enabled:
            _client().delete(output_key(self.job_id))

    def chunk(self, offset: int, text: str) -> None:
        if not self.enabled:
            return
        message = json.dumps({"type": "chunk", "offset": offset, "text": text})
        pipe = _client().pipeline(transaction=True)
        pipe.append(output_key(self.job_id), text)
        pipe.expire(output_key(self.job_id), OUTPUT_TTL_SECONDS)
        pipe.publish(channel_name(self.job_id), message)
        pipe.execute()

    def status(self, status: str, *, terminal: bool = False) -> None:
        if not self.enabled:
            return
        pipe = _client().pipeline(transaction=True)
        pipe.publish(channel_name(self.job_id), json.dumps({"type": "status", "status": status}))
        if terminal:
            # The database holds the whole output now; late readers use it.
            pipe.expire(output_key(self.job_id), TERMINAL_OUTPUT_TTL_SECONDS)
        pipe.execute()


def decode(message: dict[str, Any]) -> dict[str, Any] | None:
    if message.get("type") != "message":
        return None
    return json.loads(message["data"])
