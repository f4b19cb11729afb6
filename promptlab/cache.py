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

# Connection pools and clients by cache configuration (servers, pool class and options),
# shared by every cache object of that configuration in the process: a handful of entries.
_SHARED_POOLS: dict[tuple[Any, ...], tuple[dict[int, Any], dict[int, Any]]] = {}


class _SharedClientRedisCacheClient(RedisCacheClient):
    # Django keeps a cache's connection pools on the cache object, and makes a cache
    # object per request context. Under the ASGI server every request runs in a new
    # context (a2wsgi copies one for its thread, each event stream is a task), so each
    # request opened a new pool and a new connection to Redis (connect, health check,
    # CLIENT SETINFO): about a sixth of the web process's CPU per run. The pools, which
    # are thread-safe and reset themselves in a forked child, are shared instead.
    # Django also builds a new redis-py client object for every cache call, which costs
    # about as much as the round trip itself (bench/cache_client.py): a client only
    # wraps its pool, so one per pool serves every thread.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        key = (tuple(self._servers), self._pool_class, repr(sorted(self._pool_options.items())))
        self._pools, self._clients = _SHARED_POOLS.setdefault(key, ({}, {}))

    def _get_connection_pool(self, write: bool) -> Any:
        index = self._get_connection_pool_index(write)
        pool = self._pools.get(index)
        if pool is None:
            pool = self._pools.setdefault(
                index, self._pool_class.from_url(self._servers[index], **self._pool_options)
            )
        return pool

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients.setdefault(
                index, self._client(connection_pool=self._get_connection_pool(write))
            )
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
