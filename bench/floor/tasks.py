"""The floor's Celery app and its one task."""

from __future__ import annotations

import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.floor.settings")

import django  # noqa: E402

django.setup()

import openai  # noqa: E402
import redis  # noqa: E402
from celery import Celery  # noqa: E402
from django.conf import settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from .models import FloorRun  # noqa: E402

app = Celery("floor")
app.config_from_object("django.conf:settings", namespace="CELERY")

_provider = openai.OpenAI(max_retries=0, timeout=30)  # OPENAI_API_KEY / OPENAI_BASE_URL
_redis = redis.Redis.from_url(settings.REDIS_URL)


CHUNK_INTERVAL = 0.015


def stream_key(run_id: int) -> str:
    return f"floor:{run_id}"


@app.task(name="floor.run", acks_late=True)
def run(run_id: int) -> None:
    floor_run = FloorRun.objects.get(pk=run_id)
    FloorRun.objects.filter(pk=run_id).update(status="running")
    key, text, usage = stream_key(run_id), [], None
    # Chunks that come faster than CHUNK_INTERVAL go out together, as PromptLab's publisher does.
    held, last_sent = [], float("-inf")
    stream = _provider.chat.completions.create(
        model=os.environ.get("FLOOR_MODEL", "gpt-4o-mini"),
        messages=[{"role": "user", "content": floor_run.prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
            held.append(chunk.choices[0].delta.content)
            if time.monotonic() - last_sent >= CHUNK_INTERVAL:
                _redis.xadd(key, {"chunk": "".join(held)})
                held, last_sent = [], time.monotonic()
    if held:
        _redis.xadd(key, {"chunk": "".join(held)})
    FloorRun.objects.filter(pk=run_id).update(
        status="succeeded",
        output="".join(text),
        input_tokens=usage.prompt_tokens if usage else None,
        output_tokens=usage.completion_tokens if usage else None,
        finished_at=timezone.now(),
    )
    with _redis.pipeline() as pipe:
        pipe.xadd(key, {"done": "succeeded"})
        pipe.expire(key, 300)
        pipe.execute()
