"""Django's RedisCache against promptlab's (one redis-py client per pool), in one process.

Times ``cache.get`` of a small value (the shape of the per-request auth and rate-limit
reads), alternating the two backends in rounds so that both see the same machine state.
Needs ``REDIS_URL``. Run: ``.venv/bin/python -m bench.cache_client``.
"""

from __future__ import annotations

import os
import statistics
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache  # noqa: E402

from promptlab.cache import RedisCache  # noqa: E402

CALLS = 5000
ROUNDS = 7


def per_call_microseconds(backend: type) -> float:
    cache = backend(os.environ["REDIS_URL"], {"KEY_PREFIX": "bench-cache-client"})
    cache.set("key", {"user": 1, "plan": "free"}, 60)
    started = time.perf_counter()
    for _ in range(CALLS):
        cache.get("key")
    return (time.perf_counter() - started) / CALLS * 1e6


def main() -> None:
    results: dict[str, list[float]] = {"django": [], "promptlab": []}
    for _ in range(ROUNDS):
        results["django"].append(per_call_microseconds(DjangoRedisCache))
        results["promptlab"].append(per_call_microseconds(RedisCache))
    for name, figures in results.items():
        print(f"{name:10} cache.get: median {statistics.median(figures):.1f} µs per call")


if __name__ == "__main__":
    main()
