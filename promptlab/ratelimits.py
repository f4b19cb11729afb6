"""Rate limits, counted in the shared cache (so they hold across processes).

Signed-in users are limited by their plan, per minute and per hour; anonymous
clients by IP address; registration by IP *and* by the address it names. Sign-in
doors (the site's, the API's token endpoints, the admin's) count *failures* and back
off per account: see ``SignInAttempt``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.translation import ngettext

from .cache import CacheUnavailable

logger = logging.getLogger(__name__)

PLAN_RATES: dict[str, tuple[str, str]] = {
    "free": ("60/m", "1000/h"),
    "starter": ("300/m", "10000/h"),
    "professional": ("1000/m", "50000/h"),
    "enterprise": ("10000/m", "500000/h"),
}
ANONYMOUS_RATES = ("30/m", "500/h")
# Registration: every attempt counts, per IP; and since each one e-mails the address
# named, per address too, tighter, so that nobody can flood a stranger's inbox.
AUTH_RATE = "10/m"
REGISTRATION_EMAILS_PER_ADDRESS = "5/h"


@dataclass(frozen=True)
class Limit:
    limit: int
    remaining: int
    reset: int  # seconds until the window resets
    exceeded: bool


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_rate(rate: str) -> tuple[int, int]:
    """``"60/m"`` → (60, 60): requests, per so many seconds."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period]


def _count(group: str, key: str, rates: tuple[str, ...], *, fail_open: bool = False) -> Limit:
    """Count one request in a fixed window of each rate; the tightest result. Every
    window's counter is bumped in one round trip (``bump_many``). ``fail_open``: with the
    cache down, let the request through (limits that protect capacity); otherwise
    CacheUnavailable goes up (a 503)."""
    now = time.time()
    windows: dict[str, tuple[int, int, float]] = {}
    for rate in rates:
        limit, period = _parse_rate(rate)
        window = int(now // period)
        # "rl:" as every counter: tests clear them by it.
        windows[f"rl:{group}:{rate}:{key}:{window}"] = (limit, period, (window + 1) * period - now)
    try:
        counts = cache.bump_many({name: period + 1 for name, (_l, period, _s) in windows.items()})
    except CacheUnavailable:
        if fail_open:
            return Limit(0, 0, 0, False)
        raise
    return _tightest(
        [
            Limit(limit=limit, remaining=max(limit - count, 0), reset=int(left), exceeded=count > limit)
            for (limit, _period, left), count in zip(windows.values(), counts, strict=True)
        ]
    )


@dataclass(frozen=True)
class PlanLimits:
    """What a plan allows, for people to read: runs and API requests, each counted
    separately against these."""

    per_minute: int
    per_hour: int


def plan_limits(plan: str) -> PlanLimits:
    rates = dict(_parse_rate(rate)[::-1] for rate in PLAN_RATES.get(plan, PLAN_RATES["free"]))
    return PlanLimits(per_minute=rates[_PERIODS["m"]], per_hour=rates[_PERIODS["h"]])


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
    return _count(group, key, rates, fail_open=True)


def check_auth_attempt(request: Any, account: str | None) -> Limit:
    """Registration's limits: every attempt, per client IP and per named address.

    Fails closed (CacheUnavailable, answered 503): without the counters, nothing
    would limit the e-mails sent for as long as Redis is down."""
    if not settings.RATELIMIT_ENABLE:
        return Limit(0, 0, 0, False)
    results = [_count("auth:ip", f"ip:{client_ip(request)}", (AUTH_RATE,))]
    if account:
        address = f"account:{_account_id(account_key(account))}"
        results.append(_count("auth:account", address, (REGISTRATION_EMAILS_PER_ADDRESS,)))
    return _tightest(results)


def _tightest(results: list[Limit]) -> Limit:
    """Of several windows: the exceeded one that frees up last, else the one with least left."""
    exceeded = [r for r in results if r.exceeded]
    if exceeded:
        return max(exceeded, key=lambda r: r.reset)
    return min(results, key=lambda r: r.remaining)


def _headers(limit: Limit) -> dict[str, str]:
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


def add_headers(response: Any, limit: Limit | None) -> Any:
    """The one place a response gets its rate-limit headers (none without a limit)."""
    if limit is not None:
        for header, value in _headers(limit).items():
            response[header] = value
    return response


def note_limit(request: Any, limit: Limit) -> None:
    """The limit this request was counted against, for its response's headers.

    For DRF (a throttle, a view) as for Django views: a throttle runs before any response
    exists, so the limit is kept on the Django request, and
    ``promptlab.api.RequestLimitsMiddleware`` calls ``add_headers`` on whatever response
    goes out, a 429 from DRF's exception handler included."""
    getattr(request, "_request", request).rate_limit = limit


def limit_posts(
    group: str, *, as_visitor: bool = False
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """For an HTML view: count each POST against the caller's limits *before* the view
    runs (before it looks anything up or validates a form), by plan when signed in, by IP
    when not (always by IP with ``as_visitor``: a view that runs everyone as an anonymous
    visitor, and reads no session).

    The view reads the outcome as ``request.rate_limit`` and answers 429 when it is
    ``exceeded``; the response gets the headers as every other (``note_limit``)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "POST":
                user = None if as_visitor else request.user
                note_limit(request, check_request(request, user, group=group))
            return view(request, *args, **kwargs)

        return limited

    return decorator


# --- Sign-in: failures, not attempts, and a per-account backoff -------------------

# Failed sign-ins one address may make in any minute, across all accounts.
SIGN_IN_FAILURES_PER_IP = 10
SIGN_IN_WINDOW_SECONDS = 60
# Failures an account (or an account from one address) may have before it backs off.
BACKOFF_FREE_FAILURES = 5
BACKOFF_FIRST_WAIT_SECONDS = 1
BACKOFF_MAX_WAIT_SECONDS = 900
# A failure count is forgotten this long after its last failure or refusal.
FAILURE_MEMORY_SECONDS = 3600
# An address the account signed in from, or a browser that did (a signed cookie naming
# the account), is trusted to skip the account-wide backoff for this long.
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600
DEVICE_COOKIE = "signin_device"
DEVICE_COOKIE_ACCOUNTS = 5  # accounts one browser is remembered for


def backoff_wait(failures: int) -> int:
    """Seconds between attempts once an account has had ``failures`` failures:
    none for the first few, then doubling up to a cap."""
    if failures <= BACKOFF_FREE_FAILURES:
        return 0
    doublings = min(failures - BACKOFF_FREE_FAILURES - 1, 30)
    return min(BACKOFF_FIRST_WAIT_SECONDS * 2**doublings, BACKOFF_MAX_WAIT_SECONDS)


def account_key(value: str) -> str:
    """The account an address names, as the sign-in lookup matches it.

    Sign-in finds the user with ``email__iexact`` (``UPPER(…) = UPPER(…)`` on
    PostgreSQL), so ``alıce@…`` (dotless i) and ``ſam@…`` (long s) are alice's and sam's
    addresses, while Python's ``lower()`` leaves them apart: keyed on it, each spelling
    would get its own backoff. The key is the account itself when one matches; for an
    address without an account, its upper-then-lower casing, which folds those letters
    the same way."""
    from django.contrib.auth import get_user_model  # ratelimits sits below the apps

    value = value.strip()
    if "\x00" in value:  # PostgreSQL refuses NUL in a query, and no address holds one
        return f"address:{value.upper().lower()}"
    user_model = get_user_model()
    lookup = {f"{user_model.USERNAME_FIELD}__iexact": value}
    pk = user_model._default_manager.filter(**lookup).values_list("pk", flat=True).first()
    return f"user:{pk}" if pk is not None else f"address:{value.upper().lower()}"


def _account_id(account: str) -> str:
    # Hashed: an address may be long or hold characters a cache key must not.
    return hashlib.sha256(account.encode()).hexdigest()[:32]


def _bump(key: str, timeout: int) -> int:
    """Atomically add one to a counter, creating it with ``timeout``; its new value."""
    return cache.bump_many({key: timeout})[0]


def _refund(key: str, keep_for: int | None = None) -> None:
    with contextlib.suppress(ValueError):
        cache.decr(key)
        if keep_for:
            # Django's database cache rewrites the expiry on every decr: restore it.
            cache.touch(key, keep_for)


@dataclass
class SignInAttempt:
    """One sign-in at a guarded door (the site's login, the API's token endpoints, the
    admin's login), counted *before* the password is checked and settled after.

    Every attempt is counted up front, atomically, so that concurrent guesses cannot
    all slip through a check made before any of them failed; a success (or a refusal)
    gives its count back, so only failures remain:

    - per address, ``SIGN_IN_FAILURES_PER_IP`` failures in any minute (a sliding
      window), whichever accounts they name: honest people behind one NAT who sign in
      correctly are never counted;
    - per account, and per account from one address, a backoff: after
      ``BACKOFF_FREE_FAILURES`` failures one attempt is let through per waiting time,
      which doubles with each failure up to ``BACKOFF_MAX_WAIT_SECONDS``. The slot is
      claimed with ``cache.add``, so only one guess per window is ever evaluated,
      however many addresses send them.

    A guesser spread over many addresses is slowed by the account-wide backoff (after
    the free failures, about log2(t) guesses, then one per 15 minutes), but cannot use
    it to lock the owner out: an address the account signed in from before, and a
    browser that did (``remember_device``), skip it for ``KNOWN_ADDRESS_SECONDS``, and
    meet only the backoff of their own address, which only failures from that address
    grow. A success resets that
    address's count, not the account's, so the owner's own sign-ins never hand a
    guesser fresh free attempts. Unknown and existing accounts are treated alike.
    """

    request: Any
    account: str | None
    refusal: Limit | None = None
    _window: str | None = None
    _counters: list[str] = field(default_factory=list)  # backoff counters, narrowest first
    _slots: list[str] = field(default_factory=list)

    @classmethod
    def begin(cls, request: Any, account: object) -> SignInAttempt:
        """Count the attempt; if it is refused, ``refusal`` says for how long, and the
        request carries the translated reason (``sign_in_refusal``) for its form."""
        named = account_key(account) if isinstance(account, str) and account.strip() else None
        attempt = cls(request, named)
        if settings.RATELIMIT_ENABLE:
            # With the cache down this fails closed (CacheUnavailable, answered 503):
            # without the counters, password guessing would be unlimited.
            attempt._admit()
        if attempt.refusal is not None:
            request.sign_in_refusal = sign_in_refusal_message(attempt.refusal)
        return attempt

    # Keys ---------------------------------------------------------------------------
    def _known_key(self) -> str:
        return f"auth:signin:known:{_account_id(self.account or '')}:{client_ip(self.request)}"

    def _scopes(self) -> list[str]:
        """The backoff scopes this attempt answers to, narrowest first."""
        if self.account is None:
            return []
        account = f"auth:signin:account:{_account_id(self.account)}"
        scopes = [f"{account}:ip:{client_ip(self.request)}"]
        if _account_id(self.account) not in self._device_accounts() and not cache.get(self._known_key()):
            scopes.append(account)
        return scopes

    def _device_accounts(self) -> list[str]:
        """The accounts this browser signed in to (the device cookie), if its signature holds."""
        value = getattr(self.request, "COOKIES", {}).get(DEVICE_COOKIE)
        if not value:
            return []
        try:
            accounts = signing.loads(value, salt=DEVICE_COOKIE, max_age=KNOWN_ADDRESS_SECONDS)
        except signing.BadSignature:
            return []
        return [a for a in accounts if isinstance(a, str)] if isinstance(accounts, list) else []

    def remember_device(self, response: Any) -> Any:
        """After a success on the site or the admin: this browser is known to the account
        (OWASP's "device cookies"), so the owner on a new address is not held back either."""
        if self.account is None or self.refusal is not None or not settings.RATELIMIT_ENABLE:
            return response
        this = _account_id(self.account)
        accounts = [this, *(a for a in self._device_accounts() if a != this)][:DEVICE_COOKIE_ACCOUNTS]
        response.set_cookie(
            DEVICE_COOKIE,
            signing.dumps(accounts, salt=DEVICE_COOKIE),
            max_age=KNOWN_ADDRESS_SECONDS,
            httponly=True,
            secure=settings.SESSION_COOKIE_SECURE,
            samesite="Lax",
        )
        return response

    # Admission ----------------------------------------------------------------------
    def _admit(self) -> None:
        if limit := self._count_in_ip_window():
            self._refuse(limit)
            return
        for scope in self._scopes():
            counter = f"{scope}:failures"
            self._counters.append(counter)
            wait = backoff_wait(_bump(counter, FAILURE_MEMORY_SECONDS))
            if not wait:
                continue
            slot = f"{scope}:slot"
            # The slot's value is when it frees up: the refusal's Retry-After.
            if cache.add(slot, time.time() + wait, wait):
                self._slots.append(slot)
                continue
            frees_at = cache.get(slot) or time.time() + 1
            self._refuse(Limit(BACKOFF_FREE_FAILURES, 0, max(math.ceil(frees_at - time.time()), 1), True))
            return

    def _count_in_ip_window(self) -> Limit | None:
        """A sliding window: this minute's count plus the share of the last minute's
        still inside it (so no count resets at a minute's boundary)."""
        now = time.time()
        minute = int(now // SIGN_IN_WINDOW_SECONDS)
        key = f"auth:signin:ip:{client_ip(self.request)}:"
        self._window = key + str(minute)
        current = _bump(self._window, 2 * SIGN_IN_WINDOW_SECONDS)
        previous = cache.get(key + str(minute - 1)) or 0
        overlap = 1 - (now / SIGN_IN_WINDOW_SECONDS - minute)
        if current + previous * overlap <= SIGN_IN_FAILURES_PER_IP:
            return None
        # At the latest when this minute ends, the last one's share starts to fade.
        seconds_left = math.ceil((minute + 1) * SIGN_IN_WINDOW_SECONDS - now)
        return Limit(SIGN_IN_FAILURES_PER_IP, 0, max(seconds_left, 1), True)

    def _refuse(self, limit: Limit) -> None:
        """Not evaluated, so not a failure: give back what this attempt counted."""
        self.refusal = limit
        if self._window:
            _refund(self._window)
        for counter in self._counters:
            _refund(counter, keep_for=FAILURE_MEMORY_SECONDS)
        cache.delete_many(self._slots)
        self._window, self._counters, self._slots = None, [], []

    # Outcome ------------------------------------------------------------------------
    def succeeded(self) -> None:
        if self.refusal is not None or self._window is None:
            return  # refused, or limits are off
        with _unless_the_cache_is_down():
            self._settle_success()

    def failed(self) -> None:
        if self.refusal is not None or self._window is None:
            return
        with _unless_the_cache_is_down():
            for counter in self._counters:
                cache.touch(counter, FAILURE_MEMORY_SECONDS)

    def _settle_success(self) -> None:
        assert self._window is not None
        _refund(self._window)
        if self.account is None:
            return
        pair, *account_wide = self._counters
        # This address's count starts again; the account's (when this address counted
        # against it) only gives this success back, and decays on its own.
        cache.delete_many([pair, pair.removesuffix(":failures") + ":slot"])
        for counter in account_wide:
            _refund(counter, keep_for=FAILURE_MEMORY_SECONDS)
        cache.set(self._known_key(), 1, KNOWN_ADDRESS_SECONDS)


@contextlib.contextmanager
def _unless_the_cache_is_down() -> Iterator[None]:
    try:
        yield
    except CacheUnavailable:
        logger.warning("A sign-in's outcome was not recorded: the cache is unavailable", exc_info=True)


def sign_in_refusal_message(limit: Limit) -> str:
    return ngettext(
        "Too many failed sign-ins. Try again in %(seconds)d second.",
        "Too many failed sign-ins. Try again in %(seconds)d seconds.",
        limit.reset,
    ) % {"seconds": limit.reset}


def refused(request: HttpRequest, response: HttpResponse, limit: Limit) -> HttpResponse:
    """A page refused by a limit: a 429, and the limit noted for its headers (added with
    every other response's, by ``promptlab.api.RequestLimitsMiddleware``)."""
    response.status_code = 429
    note_limit(request, limit)
    return response
