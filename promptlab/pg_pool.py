"""The PostgreSQL pool's check of a connection before it hands it over.

Imported by the settings, so it imports nothing from Django.
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import ConnectionPool


def check_pooled_connection(conn: Any) -> None:
    """The pool's check before handing a connection over, emptying the pool of dead ones.

    psycopg_pool's own loop sleeps with exponential backoff (1 s, 2 s, 4 s…) between
    failed checks, so with the several dead connections a server restart leaves
    idle, a request waited up to the pool timeout and then failed. One dead
    connection almost always means the others died with it: check every idle
    one now (a round trip each) so the next draw gets a live or a new one.
    """
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        # psycopg_pool's private back reference (no public way from a connection to its
        # pool): tests/test_database_faults.py fails if a release renames it, rather than
        # this check silently no longer emptying the pool.
        pool = getattr(conn, "_pool", None)
        if pool is not None:
            pool.check()
        raise
