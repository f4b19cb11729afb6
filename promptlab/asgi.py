"""The one entry point `make run` serves: a small dispatcher.

Pages and the API run as plain WSGI (through a2wsgi's thread pool), because
Django's own ASGI handler makes an ordinary synchronous request several times
dearer (docs/architecture.md). Only the long-lived event streams go through
Django's ASGI handler, where an async view holds thousands of them cheaply
(``StreamHandler`` keeps that cheap: no thread per open stream). ``/mcp`` is the
MCP server for agents (``agents.server``, the ``mcp`` SDK's own ASGI transport),
whose task group lives as long as the process: started and stopped by the lifespan.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource

import django
from a2wsgi import WSGIMiddleware
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptlab.settings")


def _raise_open_file_limit() -> None:
    """Each open stream is a socket: lift the soft limit (often 1,024) to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


_raise_open_file_limit()


class StreamHandler(ASGIHandler):
    """Django's ASGI handler without its per-request ``ThreadSensitiveContext``.

    That context gives every request its own thread for sync work, kept until
    the response ends: one idle OS thread per open stream.
    A stream's sync work is brief (authorise it, read the output so far) and
    runs instead on asgiref's one shared sync thread; events need none.
    """

    async def __call__(self, scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)


django.setup(set_prefix=False)

from . import metrics, tracing  # noqa: E402  (after setup: they read the settings)

metrics.process_started()
# Before the handlers load the middleware: Django's instrumentation adds its own.
tracing.configure_from_environment()
django_asgi = StreamHandler()

from django.core.wsgi import get_wsgi_application  # noqa: E402

django_wsgi = WSGIMiddleware(get_wsgi_application(), workers=16)

from agents import server as mcp_server  # noqa: E402  (after django.setup: it loads models)

# The event streams: a job's (the site's and the API's, and an embedded form's, by
# capability) and a batch's progress (the site's and the API's).
STREAM_PATH = re.compile(r"^((/api/v1)?/(jobs|batches)/[0-9a-f-]{36}|/jobs/embedded/[^/]+)/events/?$")


async def application(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "http" and _chunked_without_length(scope):
        await _length_required(scope, send)
    elif scope["type"] == "http" and STREAM_PATH.match(scope["path"]):
        await django_asgi(scope, receive, send)
    elif scope["type"] == "http" and scope["path"].rstrip("/") == mcp_server.MCP_PATH:
        await mcp_server.application(scope, receive, send)
    else:
        await django_wsgi(scope, receive, send)


def _chunked_without_length(scope: dict) -> bool:
    """A body sent chunked, with no Content-Length. Django reads a body by its
    Content-Length (so it saw this one as empty: a job ran on default inputs), and
    the size limits are checked on it too: refused, unread, with 411."""
    names = {name.lower() for name, _value in scope.get("headers", ())}
    return b"transfer-encoding" in names and b"content-length" not in names


async def _length_required(scope: dict, send) -> None:  # type: ignore[no-untyped-def]
    from django.http import HttpRequest
    from django.utils import translation
    from django.utils.translation import gettext

    from . import logs
    from .api import API_PREFIX, error_body

    request = HttpRequest()
    request.META = {
        "HTTP_" + name.decode("latin-1").upper().replace("-", "_"): value.decode("latin-1")
        for name, value in scope.get("headers", ())
    }
    given = logs.accept_request_id(request.headers.get(logs.HEADER))
    token = logs.request_id.set(given)
    try:
        with translation.override(translation.get_language_from_request(request)):
            message = gettext(
                "Send the request body with a Content-Length header (chunked bodies are refused)."
            )
        if scope["path"].startswith(API_PREFIX):
            body = json.dumps(error_body("validation_error", message)).encode()
            content_type = b"application/json"
        else:
            body, content_type = message.encode(), b"text/plain; charset=utf-8"
    finally:
        logs.request_id.reset(token)
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers.append((logs.HEADER.lower().encode(), given.encode()))
    # The body was never read: close the connection rather than parse it as the next request.
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 411, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive, send) -> None:  # type: ignore[no-untyped-def]
    async with contextlib.AsyncExitStack() as running:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await running.enter_async_context(mcp_server.running())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await running.aclose()
                metrics.process_ended()  # this worker's open streams no longer count
                await send({"type": "lifespan.shutdown.complete"})
                return
