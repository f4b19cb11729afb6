"""The worker's sign of life, read by /health/: a timestamp in the shared cache."""

from __future__ import annotations

import time

from django.core.cache import cache

WORKER_HEARTBEAT_KEY = "promptlab:worker:heartbeat"
WORKER_FRESH_SECONDS = 180


def record_worker_heartbeat() -> None:
    cache.set(WORKER_HEARTBEAT_KEY, time.time(), timeout=None)


def worker_seen_recently() -> bool:
    try:
        seen = cache.get(WORKER_HEARTBEAT_KEY)
    except Exception:
        return False
    return bool(seen) and time.time() - seen < WORKER_FRESH_SECONDS
