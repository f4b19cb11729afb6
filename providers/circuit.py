"""Provider health: a circuit breaker per provider, and a rate-limit hold per model.

**The breaker.** ``PROVIDER_BREAKER_FAIL_MAX`` failures that a retry might fix
(5xx, timeouts, connection errors, cut streams) within
``PROVIDER_BREAKER_WINDOW`` seconds, with no answer from the provider between
them, open the breaker of that provider. An open breaker *defers* jobs: they
stay queued and come back at the next probe time (``PROVIDER_BREAKER_RESET_TIMEOUT``
seconds after it opened), without spending an attempt. Then exactly one job is
let through as the probe (a cache ``add`` decides who); its first token closes
the breaker, its failure opens it for another period. Failures expire: they are
counted in buckets a tenth of the window wide, and a bucket older than the
window is no longer counted, so a failure never counts for longer than the
window (and at least nine tenths of it).

**The hold.** A 429 is the provider pacing our key, not a sign of ill health: it
never trips the breaker (the provider did answer). When it says when to come
back (``Retry-After``), every job for that provider *and model* waits until
then, since both Anthropic and OpenAI rate-limit per model; other models and
other providers go on.

Anything else the provider answers (a 400, a wrong key, a refusal) also shows
it is up. The state lives in Django's cache, which every worker process shares
(Redis, or the database cache of the embedded defaults), under keys named for
the provider, so one provider's failures never touch another's. If the cache
itself is down the breaker lets calls through rather than blocking every job.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from prometheus_client import Counter

from promptlab import metrics  # noqa: F401  (first: every process's series go to the shared directory)

from . import ProviderError, StreamEvent, TextDelta

logger = logging.getLogger(__name__)

BUCKETS_PER_WINDOW = 10
# How long the open state may sit unattended (no job for that provider) before
# the cache forgets it; the next job is then simply let through.
OPEN_STATE_TTL = 24 * 3600
# A waiting job's own message may come back a little early (clocks of different
# worker hosts); only a message this much earlier is taken for a duplicate.
DUPLICATE_MARGIN = 0.5

# A breaker's states, as /metrics tells them: calls go through, jobs wait, the next job probes.
STATES = ("closed", "open", "half_open")
BREAKER_OPENED = Counter(
    "promptlab_provider_breaker_opened", "Times a provider's circuit breaker opened.", ["provider"]
)


@dataclass(frozen=True)
class Admission:
    """Whether a job may call its provider now."""

    wait: float = 0.0  # seconds to wait before asking again; 0: call now
    probe: bool = False  # this call decides whether the open breaker closes
    reason: str = ""  # why it waits: "open", "probing" or "rate_limited"


class ProviderBreaker:
    def __init__(self, provider: str, *, clock: Callable[[], float] = time.time) -> None:
        self.provider = provider
        self.clock = clock  # wall clock: the state is shared between processes
        self.fail_max = settings.PROVIDER_BREAKER_FAIL_MAX
        self.reset_timeout = settings.PROVIDER_BREAKER_RESET_TIMEOUT
        self.window = settings.PROVIDER_BREAKER_WINDOW
        self.bucket_width = self.window / BUCKETS_PER_WINDOW

    # --- keys ---------------------------------------------------------------

    def _key(self, name: str) -> str:
        return f"breaker:{self.provider}:{name}"

    @property
    def _open_key(self) -> str:
        return self._key("open")  # value: when the next probe may go

    @property
    def _probe_key(self) -> str:
        return self._key("probe")

    def _hold_key(self, model: str) -> str:
        # Hashed: model names are free text, cache keys are not.
        return self._key("hold:" + hashlib.sha256(model.encode()).hexdigest()[:16])

    def _bucket_keys(self, now: float) -> list[str]:
        first = math.ceil((now - self.window) / self.bucket_width)
        last = math.floor(now / self.bucket_width)
        return [self._key(f"fail:{bucket}") for bucket in range(first, last + 1)]

    # --- asking -------------------------------------------------------------

    def admit(self, model: str) -> Admission:
        """May a job for ``model`` call the provider now, and if not, how long should it wait?"""
        try:
            return self._admit(model)
        except Exception:
            logger.exception("the circuit breaker of %s could not be read; letting the call through", self)
            return Admission()

    def _admit(self, model: str) -> Admission:
        now = self.clock()
        state = cache.get_many([self._open_key, self._hold_key(model)])
        held_until = state.get(self._hold_key(model))
        if held_until is not None and held_until > now:
            return Admission(wait=_spread(held_until - now), reason="rate_limited")
        next_probe = state.get(self._open_key)
        if next_probe is None:
            return Admission()
        if now < next_probe:
            return Admission(wait=_spread(next_probe - now), reason="open")
        # The probe key expires on its own, so a probe whose worker died is replaced.
        if cache.add(self._probe_key, now, timeout=max(1, math.ceil(self.reset_timeout))):
            return Admission(probe=True)
        # Another job is probing: look again soon, its first token may close the breaker.
        poll = min(self.reset_timeout, max(1.0, self.reset_timeout / 10))
        return Admission(wait=_spread(poll), reason="probing")

    def first_to_wait(self, job_id: object, seconds: float) -> bool:
        """Whether this message is the one to bring the job back after ``seconds``.

        Without this, every duplicate message of a waiting job (the sweep re-enqueues
        jobs that sat queued) would start a chain of its own and they would multiply
        over a long outage. The mark says when the job's message comes back; a
        message arriving well before that is a duplicate. (The time is the value, not
        the key's expiry: the database cache keeps expiries to the second.)
        """
        key = self._key(f"waiting:{job_id}")
        now = self.clock()
        timeout = math.ceil(seconds) + 60
        try:
            # The first wait of a job: ``add`` lets exactly one of racing messages start it.
            if cache.add(key, now + seconds, timeout=timeout):
                return True
            comes_back = cache.get(key)
            if comes_back is not None and comes_back > now + DUPLICATE_MARGIN:
                return False
            # A later wait (this is the job's own message back); the job's row,
            # whose queue deadline only one message can move, decides any race here.
            cache.set(key, now + seconds, timeout=timeout)
        except Exception:
            logger.exception("could not mark job %s as waiting", job_id)
        return True

    def is_open(self) -> bool:
        return cache.get(self._open_key) is not None

    def failure_count(self) -> int:
        """Failures within the window (what the next failure is added to)."""
        return sum(cache.get_many(self._bucket_keys(self.clock())).values())

    # --- telling ------------------------------------------------------------

    def watch(self, events: Iterator[StreamEvent], admission: Admission, model: str) -> Iterator[StreamEvent]:
        """Pass a provider's stream through, learning the provider's health from it.

        The first token means the provider is up: it closes an open breaker
        without waiting for the end of a long generation.
        """
        resolved = False
        try:
            for event in events:
                if not resolved and isinstance(event, TextDelta):
                    resolved = True
                    self.answered()
                yield event
            if not resolved:
                resolved = True
                self.answered()
        except ProviderError as error:
            resolved = True
            self.record_error(error, model)
            raise
        finally:
            if not resolved and admission.probe:
                self.release_probe()  # cancelled or timed out before it learned anything

    def answered(self) -> None:
        """The provider answered: close the breaker and forget the failures."""
        self._best_effort(
            lambda: cache.delete_many([self._open_key, self._probe_key, *self._bucket_keys(self.clock())])
        )

    def record_error(self, error: ProviderError, model: str) -> None:
        if error.code == "rate_limited":
            if error.retry_after:
                self._best_effort(lambda: self._hold(model, error.retry_after or 0.0))
            self.answered()
        elif error.retryable:
            self._best_effort(self._failed)
        else:
            self.answered()  # a bad request or a wrong key: the provider is up

    def release_probe(self) -> None:
        self._best_effort(lambda: cache.delete(self._probe_key))

    def _failed(self) -> None:
        now = self.clock()
        if cache.get(self._open_key) is not None:
            # The probe failed (or a call admitted before the breaker opened):
            # stay open for another period.
            self._open(now)
            return
        bucket = self._bucket_keys(now)[-1]
        # Made and counted in one step: a bucket expiring between the two would fail the incr.
        cache.bump_many({bucket: math.ceil(self.window + self.bucket_width) + 1})
        if self.failure_count() >= self.fail_max:
            self._open(now)

    def _open(self, now: float) -> None:
        if not self.is_open():
            logger.warning("circuit breaker of %s opened for %s s", self.provider, self.reset_timeout)
            BREAKER_OPENED.labels(self.provider).inc()
        cache.set(self._open_key, now + self.reset_timeout, timeout=OPEN_STATE_TTL)
        cache.delete(self._probe_key)

    def _hold(self, model: str, seconds: float) -> None:
        until = self.clock() + seconds
        current = cache.get(self._hold_key(model))
        if current is None or current < until:
            cache.set(self._hold_key(model), until, timeout=math.ceil(seconds) + 1)

    def _best_effort(self, change: Callable[[], object]) -> None:
        try:
            change()
        except Exception:
            logger.exception("could not update the circuit breaker of %s", self.provider)

    def __str__(self) -> str:
        return self.provider


def breaker_for(provider: str) -> ProviderBreaker:
    return ProviderBreaker(provider)


def breaker_states(providers: list[str], *, clock: Callable[[], float] = time.time) -> dict[str, str]:
    """Each provider's breaker state now (one of ``STATES``), in one read of the shared cache."""
    keys = {ProviderBreaker(provider)._open_key: provider for provider in providers}
    found = cache.get_many(list(keys))
    now = clock()
    states = {}
    for key, provider in keys.items():
        next_probe = found.get(key)
        states[provider] = "closed" if next_probe is None else ("open" if now < next_probe else "half_open")
    return states


def _spread(seconds: float) -> float:
    # Jobs held back together must not all come back in the same instant.
    return seconds + random.uniform(0.05, 0.1 * seconds + 0.1)
