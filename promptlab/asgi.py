"""The one entry point `make run` serves: a small dispatcher.

Pages and the API run as plain WSGI (through a2wsgi's thread pool), because
Django's own ASGI handler costs ~7x per ordinary request on this machine
(STACK-NOTES.md). Only the long-lived event streams go through Django's ASGI
handler, where an async view holds thousands of them cheaply (``StreamHandler``
keeps that cheap: no thread per open stream).
"""

from __future__ import annotations

import contextlib
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
    the response ends: one idle OS thread per open stream (~60 KB each here).
    A stream's sync work is brief (authorise it, read the output so far) and
    runs instead on asgiref's one shared sync thread; events need none.
    """

    async def __call__(self, scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)


django.setup(set_prefix=False)
django_asgi = StreamHandler()

from django.core.wsgi import get_wsgi_application  # noqa: E402

django_wsgi = WSGIMiddleware(get_wsgi_application(), workers=16)

STREAM_PATH = re.compile(r"^(/api/v1)?/jobs/[0-9a-f-]{36}/events/?$")


async def application(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] == "http" and STREAM_PATH.match(scope["path"]):
        await django_asgi(scope, receive, send)
    else:
        await django_wsgi(scope, receive, send)


async def _lifespan(receive, send) -> None:  # type: ignore[no-untyped-def]
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
