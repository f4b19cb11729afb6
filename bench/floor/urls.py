"""POST generate (the row and the enqueue) and the run's event stream, at PromptLab's own paths."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import redis.asyncio
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from .models import FloorRun
from .tasks import run, stream_key

_redis = redis.asyncio.Redis.from_url(settings.REDIS_URL)


@api_view(["POST"])
def generate(request: Request, slug: str) -> Response:
    inputs = request.data["inputs"]
    floor_run = FloorRun.objects.create(prompt=f"Write {inputs['count']} lines about {inputs['topic']}.")
    transaction.on_commit(lambda: run.delay(floor_run.pk))
    return Response(
        {"id": floor_run.pk, "status": "queued", "links": {"events": f"/api/v1/jobs/{floor_run.pk}/events"}},
        status=202,
    )


async def events(request: HttpRequest, run_id: int) -> StreamingHttpResponse:
    async def relay() -> AsyncIterator[str]:
        key, last = stream_key(run_id), "0"
        while True:
            answer = await _redis.xread({key: last}, block=30_000)
            if not answer:
                return
            for entry_id, fields in answer[0][1]:
                last = entry_id
                if b"done" in fields:
                    yield f"event: done\ndata: {fields[b'done'].decode()}\n\n"
                    return
                yield f"event: chunk\ndata: {json.dumps(fields[b'chunk'].decode())}\n\n"

    return StreamingHttpResponse(relay(), content_type="text/event-stream")


urlpatterns = [
    path("api/v1/templates/<slug:slug>/generate", generate),
    path("api/v1/jobs/<int:run_id>/events", events),
]
