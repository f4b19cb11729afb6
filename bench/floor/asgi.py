"""Served as PromptLab serves itself: the POST through a2wsgi's thread pool as plain
WSGI, only the event stream through Django's ASGI handler (without the per-request
thread context, as promptlab.asgi's StreamHandler). An all-ASGI floor would charge
the floor's POST the dearer ASGI path PromptLab does not take."""

from __future__ import annotations

import os
import re

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.floor.settings")

import django  # noqa: E402
from a2wsgi import WSGIMiddleware  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402


class _StreamHandler(ASGIHandler):
    async def __call__(self, scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        await self.handle(scope, receive, send)


django.setup(set_prefix=False)
_streams = _StreamHandler()
_pages = WSGIMiddleware(get_wsgi_application(), workers=16)
_STREAM_PATH = re.compile(r"^/api/v1/jobs/[0-9]+/events$")


async def application(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] == "http" and _STREAM_PATH.match(scope["path"]):
        await _streams(scope, receive, send)
    elif scope["type"] == "http":
        await _pages(scope, receive, send)
    elif scope["type"] == "lifespan":
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
        await send({"type": "lifespan.shutdown.complete"})
