"""The one entry point `make run` serves: a small dispatcher.

Pages and the API run as plain WSGI (through a2wsgi's thread pool), because
Django's own ASGI handler costs ~7x per ordinary request on this machine
(STACK-NOTES.md). Only the long-lived event streams go through Django's ASGI
handler, where an async view holds thousands of them cheaply.
"""

from __future__ import annotations

import os
import re

from a2wsgi import WSGIMiddleware
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptlab.settings")

django_asgi = get_asgi_application()

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
