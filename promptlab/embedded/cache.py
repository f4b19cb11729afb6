"""The embedded default cache: Django's database cache with atomic increments.

Rate-limit counters are incremented concurrently by several processes. The
stock DatabaseCache increments with a read and a write; inside one
transaction on SQLite (whose transactions here begin IMMEDIATE, taking the
write lock) the pair can't interleave, so no count is lost.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.db import DatabaseCache
from django.db import router, transaction


class AtomicDatabaseCache(DatabaseCache):
    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        db = router.db_for_write(self.cache_model_class)
        with transaction.atomic(using=db):
            return super().incr(key, delta, version)

    def bump_many(self, timeouts: dict[str, int]) -> list[int]:
        """As ``promptlab.cache.RedisCache.bump_many``: add one to each counter, made with
        its timeout when new; their new values."""
        db = router.db_for_write(self.cache_model_class)
        with transaction.atomic(using=db):
            counts = []
            for key, timeout in timeouts.items():
                self.add(key, 0, timeout)
                counts.append(super().incr(key))
            return counts
