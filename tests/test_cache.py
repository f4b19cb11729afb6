"""The Redis cache backend: Django's, with one redis-py client per connection pool."""

from __future__ import annotations

import contextvars
import threading

import pytest
from django.core.cache import caches

from promptlab.cache import RedisCache


@pytest.mark.needs_redis
def test_one_client_serves_every_call_and_the_cache_still_works() -> None:
    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    client = cache._cache.get_client()
    assert cache._cache.get_client("any key") is client
    assert cache._cache.get_client(write=True) is cache._cache.get_client(write=True)

    # Writes from several threads at once (each has its own cache object) all land.
    def add_many(n: int) -> None:
        for i in range(50):
            caches["default"].set(f"test-cache-{n}-{i}", i, 30)

    threads = [threading.Thread(target=add_many, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get_many([f"test-cache-{n}-49" for n in range(4)]) == {
        f"test-cache-{n}-49": 49 for n in range(4)
    }
    assert cache.add("test-cache-add", 1, 30) and not cache.add("test-cache-add", 2, 30)
    cache.delete_many(["test-cache-add", *(f"test-cache-{n}-{i}" for n in range(4) for i in range(50))])


@pytest.mark.needs_redis
def test_requests_in_new_contexts_share_one_connection_pool() -> None:
    # The ASGI server runs every request in a new context, where Django makes a new
    # cache object: each used to open its own pool and a new connection to Redis.
    seen_pools = set()

    def request() -> None:
        cache = caches["default"]
        cache.get("test-cache-context")
        seen_pools.add(id(cache._cache._get_connection_pool(write=False)))

    def in_threads_with_new_contexts() -> None:
        for _ in range(10):
            thread = threading.Thread(target=contextvars.copy_context().run, args=(request,))
            thread.start()
            thread.join()

    in_threads_with_new_contexts()
    pool = caches["default"]._cache._get_connection_pool(write=False)
    connections_before = pool._created_connections
    in_threads_with_new_contexts()
    assert len(seen_pools) == 1
    assert pool._created_connections == connections_before  # idle ones were reused
