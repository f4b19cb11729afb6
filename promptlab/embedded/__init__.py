"""Only for `make run` without services: the workarounds the embedded mode needs.

With ``DATABASE_URL`` and ``REDIS_URL`` unset, PromptLab runs on SQLite, Django's
database cache and kombu's filesystem broker, so that a checkout starts with no
server installed. Each of those needs one fix to hold up under several processes
and threads, and every such fix lives here, out of the way of the production path
(PostgreSQL, Redis), which uses none of them:

- ``sqlite_backend``: SQLite with a process's writers queued on one lock
  (SQLite's own busy wait sleeps and polls, and concurrent writers crawl);
- ``cache.AtomicDatabaseCache``: the database cache with atomic increments
  (rate-limit counters are incremented by several processes at once);
- ``broker.Transport``: kombu's filesystem transport writing each message
  atomically (a consumer could read a message file still empty).

``docs/architecture.md`` says more about the embedded mode.
"""
