"""One circuit breaker per provider connection (pybreaker).

After ``PROVIDER_BREAKER_FAIL_MAX`` consecutive failures that a retry might
have fixed (5xx, 429, timeouts, cut streams) the circuit opens: jobs for that
provider fail fast with "provider unavailable" instead of piling onto it. After
``PROVIDER_BREAKER_RESET_TIMEOUT`` seconds one job is let through as a probe; its
success closes the circuit. Permanent errors (a bad request, a wrong key) say
nothing about the provider's health and don't count.

The state lives in Redis when there is one, so every worker process shares it.
"""

from __future__ import annotations

from functools import cache

import pybreaker
import redis
from django.conf import settings

from .providers import ProviderError


def _says_nothing_about_health(error: BaseException) -> bool:
    # Only failures a retry might fix count: not a bad request, not a cancel.
    return not (isinstance(error, ProviderError) and error.retryable)


@cache
def breaker_for(provider: str) -> pybreaker.CircuitBreaker:
    storage: pybreaker.CircuitBreakerStorage
    if settings.REDIS_URL:
        storage = pybreaker.CircuitRedisStorage(
            pybreaker.STATE_CLOSED,
            redis.Redis.from_url(settings.REDIS_URL),
            namespace=f"promptlab:breaker:{provider}",
        )
    else:
        storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
    return pybreaker.CircuitBreaker(
        fail_max=settings.PROVIDER_BREAKER_FAIL_MAX,
        reset_timeout=settings.PROVIDER_BREAKER_RESET_TIMEOUT,
        exclude=[_says_nothing_about_health],
        state_storage=storage,
        name=provider,
        throw_new_error_on_trip=False,
    )
