"""The Redis cache backend: Django's, without a client object per call, whose
connection failures raise one error, ``CacheUnavailable``.

The embedded default (no Redis) is ``promptlab.embedded.cache``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _SharedClientRedisCacheClient(RedisCacheClient):
    # Django builds a new redis-py client object for every cache call, which costs
    # about as much as the round trip itself, on the per-request auth and rate-limit
    # path (bench/cache_client.py measures both backends side by side). A client only
    # wraps its (thread-safe) connection pool, so one per pool serves every thread.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class CacheUnavailable(Exception):
    """The cache's server does not answer (down, restarting, unreachable).

    Callers decide what that means for them: a rate limit that protects capacity
    lets the request through, a guard on passwords refuses it, and anything else
    answers 503 (``promptlab.outages``), never 500.
    """


def _raising_cache_unavailable(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    return wrapper


class RedisCache(DjangoRedisCache):
    """Django's RedisCache, with one redis-py client per connection pool."""

    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _SharedClientRedisCacheClient

    add = _raising_cache_unavailable(DjangoRedisCache.add)
    get = _raising_cache_unavailable(DjangoRedisCache.get)
    set = _raising_cache_unavailable(DjangoRedisCache.set)
    touch = _raising_cache_unavailable(DjangoRedisCache.touch)
    delete = _raising_cache_unavailable(DjangoRedisCache.delete)
    get_many = _raising_cache_unavailable(DjangoRedisCache.get_many)
    has_key = _raising_cache_unavailable(DjangoRedisCache.has_key)
    incr = _raising_cache_unavailable(DjangoRedisCache.incr)
    set_many = _raising_cache_unavailable(DjangoRedisCache.set_many)
    delete_many = _raising_cache_unavailable(DjangoRedisCache.delete_many)
    clear = _raising_cache_unavailable(DjangoRedisCache.clear)

    @_raising_cache_unavailable
    def bump_many(self, timeouts: dict[str, int]) -> list[int]:
        """Add one to each counter (made with its timeout, in seconds, when new); their new
        values, in order, in one round trip (``add`` then ``incr`` took three per counter).

        MULTI/EXEC, so a counter cannot expire between its creation and its increment
        (an INCR on a missing key would make one that never expires)."""
        keys = {self.make_and_validate_key(key): timeout for key, timeout in timeouts.items()}
        with self._cache.get_client(write=True).pipeline(transaction=True) as pipe:
            for key, timeout in keys.items():
                pipe.set(key, 0, ex=timeout, nx=True)
                pipe.incr(key)
            return pipe.execute()[1::2]
