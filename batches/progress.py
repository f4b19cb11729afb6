"""A batch's progress events over Redis: every change of its counters publishes one.

The channel is ``promptlab:batch:<id>:events`` and each message is the JSON of
``progress_event``: the whole state of the counters, not a difference, so a reader that
misses one (or subscribes late) is right again at the next. The batch's page and its SSE
endpoint relay them; without Redis (the embedded default) nothing is published and the
page polls. Best effort, as the jobs' events (jobs/streaming.py): the database is the record.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings

if TYPE_CHECKING:
    from .models import Batch

logger = logging.getLogger(__name__)

# A worker must not wait on an unresponsive Redis to finish a job.
REDIS_TIMEOUT_SECONDS = 2.0


def channel_name(batch_id: object) -> str:
    return f"promptlab:batch:{batch_id}:events"


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )


def progress_event(batch: Batch) -> dict[str, Any]:
    """The batch's figures as one JSON object (also the SSE stream's first event)."""
    progress = batch.progress
    time_left = batch.time_left
    return {
        "type": "progress",
        "batch": str(batch.pk),
        "state": batch.state,
        **progress.counts(),
        "input_tokens": batch.input_tokens,
        "output_tokens": batch.output_tokens,
        "cost": str(batch.cost),
        "unpriced": batch.unpriced,
        "time_left": None if time_left is None else int(time_left.total_seconds()),
        # Nothing more will change unless someone retries the failed rows.
        "final": batch.state in ("finished", "cancelled") and not batch.running,
    }


def publish_progress(batch: Batch) -> None:
    if not settings.REDIS_URL:
        return
    try:
        _client().publish(channel_name(batch.pk), json.dumps(progress_event(batch)))
    except redis.RedisError as exc:
        logger.warning("batch %s: could not publish its progress to Redis: %s", batch.pk, exc)
