"""The request being answered, for entries recorded where no request is at hand (a
model's method, a signal's receiver): its signed-in person and address.

Set by ``RequestContextMiddleware`` for the request's duration. A context variable, so
each thread (WSGI) or task (ASGI) sees its own; outside a request (Celery, a command)
there is none and entries have the actor their caller names, or none.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


def current_request() -> HttpRequest | None:
    return _request.get()


def client_address(request: Any) -> str | None:
    """The address the request came from. The web server puts a trusted proxy's
    X-Forwarded-For into REMOTE_ADDR (uvicorn's and gunicorn's --forwarded-allow-ips, as
    the Procfile sets them), so the header is never read here: anyone can send it."""
    raw = (getattr(request, "META", None) or {}).get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


class RequestContextMiddleware:
    """After AuthenticationMiddleware. The user is read when an entry is recorded, so a
    person the API signs in later (a token, a JWT: DRF sets it on the request) counts."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)
