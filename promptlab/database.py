"""A read whose PostgreSQL connection was killed while it ran is run once more;
any other database outage (a write, a second failure, a pool out of
connections) answers a translated 503, not a 500.

The pool checks each connection before handing it over (``promptlab.pg_pool``),
but a connection can still die between that check and the query: a restart, a
failover or ``pg_terminate_backend`` while requests are in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse

from .outages import outage_response

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RetryReadsOnLostConnection:
    """Run a GET/HEAD/OPTIONS view once more when its database connection was lost mid-request.

    Only reads, only outside a transaction, only once: a write could have been
    applied before the connection dropped, and a request may not wait long.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        match = request.resolver_match
        if (
            request.method not in IDEMPOTENT_METHODS
            or getattr(request, "_database_retried", False)
            or connection.in_atomic_block
            or match is None
            or asyncio.iscoroutinefunction(match.func)
        ):
            return _unavailable(request, exception)
        request._database_retried = True  # type: ignore[attr-defined]
        logger.warning("retrying %s %s on a new connection: %s", request.method, request.path, exception)
        drop_broken_connection()
        try:
            return match.func(request, *match.args, **match.kwargs)
        except (OperationalError, InterfaceError) as again:
            # Raised here it would skip the middleware's exception handling: a 500.
            return _unavailable(request, again)


def release_connection() -> None:
    """Hand the connection back to the pool before a long wait (an event stream's, a
    waiting request's), unless inside a transaction (a test's or a caller's), which
    closing would end."""
    if not connection.in_atomic_block:
        connection.close()


def drop_broken_connection() -> None:
    """Give a broken connection back (the pool discards it) so the next try opens a new one."""
    with contextlib.suppress(Exception):
        connection.close()


def _unavailable(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Not retried, or failed again: the database is down or out of connections (a pool
    timeout), and the visitor is told so and when to try again, as when Redis is down."""
    logger.warning("%s %s answered 503, database unavailable: %s", request.method, request.path, exception)
    drop_broken_connection()
    return outage_response(request)
