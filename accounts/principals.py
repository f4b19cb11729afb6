"""A short-lived cache of authenticated principals (a personal token with its user, or a
JWT's user), on the shared cache, so an API request does not query the database to
learn who is calling.

Changes that must take effect at once (a revoked or deleted token, a deactivated,
deleted or re-passworded user) do not merely delete the entry: they leave a
*tombstone* for the whole lifetime of an entry, and entries are only ever written with
``cache.add``. A request that read the old row just before the change can therefore
never put it back: its ``add`` either comes first (and the tombstone overwrites it) or
finds the tombstone (and writes nothing). Expiry needs no invalidation: the cached
token keeps its ``expires_at`` and is checked on every use.

With the cache down, reads and writes of entries fail open (a miss: the database
answers, as it is the record), but tombstones do not: a change that can't leave
one raises ``CacheUnavailable`` (a 503, its transaction rolled back where it has
one) rather than let a revoked token be answered from a stale entry later.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache

from promptlab.cache import CacheUnavailable

PRINCIPAL_CACHE_SECONDS = 60
_TOMBSTONE = "stale"


def token_key(key_hash: str) -> str:
    return f"auth:token:{key_hash}"


def user_key(user_id: Any) -> str:
    return f"auth:user:{user_id}"


def recall(key: str) -> Any:
    """The cached principal, or None when absent or invalidated."""
    try:
        value = cache.get(key)
    except CacheUnavailable:
        return None
    return None if value is None or value == _TOMBSTONE else value


def family_key(family: str) -> str:
    return f"auth:jwt-family-revoked:{family}"


def recall_with_family(key: str, family: str) -> tuple[Any, bool]:
    """The cached principal (as ``recall``) and whether the JWT family was revoked: one
    round trip for both."""
    values = cache.get_many([key, family_key(family)])
    value = values.get(key)
    return (None if value is None or value == _TOMBSTONE else value), family_key(family) in values


def forget_family(family: str, seconds: float) -> None:
    """Refuse the access JWTs of a revoked refresh-token family for as long as they live."""
    cache.set(family_key(family), 1, max(int(seconds), 1))


def remember(key: str, value: Any, seconds: float = PRINCIPAL_CACHE_SECONDS) -> None:
    # add, never set: see the module docstring.
    if seconds > 0:
        with contextlib.suppress(CacheUnavailable):
            cache.add(key, value, min(int(seconds), PRINCIPAL_CACHE_SECONDS) or 1)


def claim_use_stamp(token_id: Any) -> bool:
    """True for the first caller in a minute: only it records the token's last use.

    A key of its own, so recording a use never rewrites the principal entry
    (a read-then-set there could overwrite a revocation's tombstone)."""
    try:
        return cache.add(f"auth:token-used:{token_id}", 1, PRINCIPAL_CACHE_SECONDS)
    except CacheUnavailable:
        return False  # the use goes unrecorded for this minute, the request goes on


def forget(keys: Iterable[str]) -> None:
    cache.set_many(dict.fromkeys(keys, _TOMBSTONE), PRINCIPAL_CACHE_SECONDS)
