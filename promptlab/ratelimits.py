"""Rate limits, on django-ratelimit and the shared cache (so they hold across processes).

Signed-in users are limited by their plan, per minute and per hour; anonymous
clients by IP address; sign-in, registration and token endpoints by IP *and*
by the account they name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django_ratelimit.core import get_usage

from .cache import CacheUnavailable

PLAN_RATES: dict[str, tuple[str, str]] = {
    "free": ("60/m", "1000/h"),
    "starter": ("300/m", "10000/h"),
    "professional": ("1000/m", "50000/h"),
    "enterprise": ("10000/m", "500000/h"),
}
ANONYMOUS_RATES = ("30/m", "500/h")
AUTH_RATE = "10/m"


@dataclass(frozen=True)
class Limit:
    limit: int
    remaining: int
    reset: int  # seconds until the window resets
    exceeded: bool


def _check(
    request: Any, group: str, key: str, rate: str, increment: bool = True, *, fail_open: bool = False
) -> Limit:
    """One window. ``fail_open``: with the cache down, let the request through
    (limits that protect capacity); otherwise CacheUnavailable goes up (a 503)."""
    try:
        usage = get_usage(request, group=group, key=lambda _g, _r: key, rate=rate, increment=increment)
    except CacheUnavailable:
        if fail_open:
            return Limit(0, 0, 0, False)
        raise
    if usage is None:  # ratelimiting disabled
        return Limit(0, 0, 0, False)
    return Limit(
        limit=usage["limit"],
        remaining=max(usage["limit"] - usage["count"], 0),
        reset=int(usage["time_left"]),
        exceeded=usage["should_limit"],
    )


def client_ip(request: Any) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def check_request(request: Any, user: Any, group: str = "requests") -> Limit:
    """Count one request against every window that applies; the tightest result."""
    if not settings.RATELIMIT_ENABLE:
        return Limit(0, 0, 0, False)
    if user is not None and user.is_authenticated:
        rates = PLAN_RATES.get(getattr(user, "plan", "free"), PLAN_RATES["free"])
        key = f"user:{user.pk}"
    else:
        rates = ANONYMOUS_RATES
        key = f"ip:{client_ip(request)}"
    # Fails open: a few seconds without Redis should not stop the site; these
    # limits share capacity, and the database still records every job.
    return _tightest([_check(request, f"{group}:{rate}", key, rate, fail_open=True) for rate in rates])


def check_auth_attempt(request: Any, account: str | None) -> Limit:
    """Tight limits on guessable doors: per client IP and per named account.

    Fails closed (CacheUnavailable, answered 503): without the counters,
    password guessing would be unlimited for as long as Redis is down."""
    if not settings.RATELIMIT_ENABLE:
        return Limit(0, 0, 0, False)
    results = [_check(request, "auth:ip", f"ip:{client_ip(request)}", AUTH_RATE)]
    if account:
        results.append(_check(request, "auth:account", f"account:{account.strip().lower()}", AUTH_RATE))
    return _tightest(results)


def _tightest(results: list[Limit]) -> Limit:
    """Of several windows: the exceeded one that frees up last, else the one with least left."""
    exceeded = [r for r in results if r.exceeded]
    if exceeded:
        return max(exceeded, key=lambda r: r.reset)
    return min(results, key=lambda r: r.remaining)


def headers_for(limit: Limit) -> dict[str, str]:
    if not limit.limit:
        return {}
    headers = {
        "X-RateLimit-Limit": str(limit.limit),
        "X-RateLimit-Remaining": str(limit.remaining),
        "X-RateLimit-Reset": str(int(time.time()) + limit.reset),
    }
    if limit.exceeded:
        headers["Retry-After"] = str(max(limit.reset, 1))
    return headers
