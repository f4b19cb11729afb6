"""Request ids and structured logs.

Every request gets an id: the client's ``X-Request-ID`` when it is a sane one (1 to 128
letters, digits and ``._:-``, starting with a letter or digit), else a new one. The
response carries it back in ``X-Request-ID``, the API's error envelope names it, and
every log record written while the request is handled carries it (``request_id``), with
the job's id once there is one (``job_id``). Both live in context variables, so they
follow the request into threads asgiref hands it to; a task enqueued while a request is
handled takes the request id along in its message's headers (``promptlab.celery``), and
the worker's records name it and the job too.

``LOG_FORMAT=json`` writes each record as one JSON object (python-json-logger), the two
ids among its fields; the default stays plain text.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)


def accept_request_id(given: str | None) -> str:
    """The client's request id if it is a sane one, else a new one."""
    if given and _SANE.fullmatch(given):
        return given
    return uuid.uuid4().hex


def forget() -> None:
    """No request or job any more (the end of a request or a task)."""
    request_id.set(None)
    job_id.set(None)


class ContextFilter(logging.Filter):
    """Puts the current request id and job id on every record (None where unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.job_id = job_id.get()
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per record: time, level, logger, message, the ids, and any extras."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


def use_json(logger: logging.Logger) -> None:
    """Switch a logger's handlers (Celery's own, in a worker) to JSON with the ids."""
    for handler in logger.handlers:
        handler.setFormatter(json_formatter())
        handler.addFilter(ContextFilter())


class RequestIdMiddleware:
    """Gives each request its id (``request.request_id``) and sends it back in X-Request-ID."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = accept_request_id(request.headers.get(HEADER))
        request.request_id = given  # type: ignore[attr-defined]
        tokens: tuple[Any, Any] = (request_id.set(given), job_id.set(None))
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(tokens[0])
            job_id.reset(tokens[1])
        response[HEADER] = given
        return response
