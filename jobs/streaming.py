"""Live job events over Redis: the worker publishes, the stream view relays.

Every chunk is appended to a Redis string *and* published in one MULTI/EXEC,
so a reader that subscribes first and then reads the string sees every chunk
exactly once: either inside the string or as a later message. Each attempt
has its own string; a retry starts with a ``reset`` event. Event ids say
whose output, which attempt and how many characters so far, so a client that
reconnects with ``Last-Event-ID`` resumes exactly where it stopped.

A workflow run (jobs/workflows) also has a Redis *stream* of its steps' events
(``steps_stream_key``), appended with XADD: a reader resumes from any entry id it saw
(the SSE ``id:``), with no subscription to race. See ``read_workflow_events`` for the
events' shape.

Without Redis (the embedded default) nothing is published and the job page
polls instead.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
from django.conf import settings

OUTPUT_TTL_SECONDS = 3600
TERMINAL_OUTPUT_TTL_SECONDS = 60
# A job must not wait on an unresponsive Redis: publishing is best effort.
REDIS_TIMEOUT_SECONDS = 2.0

logger = logging.getLogger(__name__)


# A run's stream keeps about this many events (XADD MAXLEN ~): a 100-item step streaming
# long answers is trimmed from its oldest chunks, which its rows in the database hold.
STEPS_STREAM_MAXLEN = 20000


def steps_stream_key(run_id: object) -> str:
    return f"promptlab:job:{run_id}:steps"


def channel_name(job_id: object) -> str:
    return f"promptlab:job:{job_id}:events"


def output_key(job_id: object, attempt: int) -> str:
    return f"promptlab:job:{job_id}:output:{attempt}"


def streaming_enabled() -> bool:
    return bool(settings.REDIS_URL)


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )


# Append a chunk only where the stored output ends where the chunk begins (byte
# lengths: Redis counts bytes); otherwise append nothing and say so. After a
# Redis restart the key is gone (or after an outage chunks are missing), and
# appending to it would store a later part of the text as if it were the start.
_APPEND_AT = """
if redis.call('STRLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('APPEND', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[4])
return 1
"""


@cache
def _append_at() -> Any:
    return _client().register_script(_APPEND_AT)


class JobPublisher:
    """Publishes one attempt's chunks and status changes (a no-op without Redis).

    Best effort: the database is the record, so a Redis that is down or restarting
    costs the live view, never the job. The publisher keeps the text it was
    given, and whenever the stored output is not exactly that text (Redis lost
    it, or missed chunks while down) it writes the whole text again.
    """

    def __init__(self, job_id: object, attempt: int, *, step: StepOf | None = None) -> None:
        self.job_id = job_id
        self.attempt = attempt
        # A workflow step's job: its chunks also go to its run's stream of steps.
        self.step = step
        self.enabled = streaming_enabled()
        self._parts: list[str] = []
        self._stored_bytes = 0  # the length of the output so far, as Redis counts it
        # Chunks held back to go out as one (see ``chunk``): where they start, and when
        # the last chunk went out.
        self._held_offset: int | None = None
        self._held: list[str] = []
        self._held_tokens: int | None = None
        self._last_sent = float("-inf")

    @classmethod
    def for_job(cls, job: Any, attempt: int) -> JobPublisher:
        """The publisher of a job's attempt; a workflow step's tells its run's stream too."""
        step = None
        if job.part_of_id is not None:
            step = StepOf(job.part_of_id, str(job.inputs.get("step", "")), job.inputs.get("item"))
        return cls(job.id, attempt, step=step)

    def _step_event(self, pipe: Any, event: dict[str, Any]) -> None:
        if self.step is not None:
            _add_events(pipe, self.step.run_id, [self.step.chunk_event(self.job_id, self.attempt, event)])

    def _message(self, message: dict[str, Any]) -> str:
        return json.dumps({**message, "attempt": self.attempt})

    def _publish(self, pipe: Any, message: dict[str, Any]) -> None:
        pipe.publish(channel_name(self.job_id), self._message(message))

    def _best_effort(self, what: str, send: Any) -> None:
        try:
            send()
        except redis.RedisError as exc:
            logger.warning("job %s: could not publish %s to Redis: %s", self.job_id, what, exc)

    def reset(self, *, status: str | None = None) -> None:
        """Start the attempt's output afresh; with ``status``, publish it in the same round trip."""
        if not self.enabled:
            return

        def send() -> None:
            pipe = _client().pipeline(transaction=True)
            pipe.delete(output_key(self.job_id, self.attempt))
            self._publish(pipe, {"type": "reset"})
            if status is not None:
                self._publish(pipe, {"type": "status", "status": status})
            self._step_event(pipe, {"offset": 0, "text": "", "reset": True})
            pipe.execute()

        self._parts, self._stored_bytes = [], 0
        self._held_offset, self._held, self._last_sent = None, [], float("-inf")
        self._held_tokens = None
        self._best_effort("a reset", send)

    def chunk(self, offset: int, text: str, tokens: int | None = None) -> None:
        """Append a chunk of output and publish it, with ``tokens``, the output tokens
        so far (what the MCP server reports as progress), when given.

        A chunk that comes within JOB_STREAM_CHUNK_INTERVAL of the last one sent is held
        and goes out with the next one after the interval, or before the next status:
        a fast provider's tokens come in bursts, and every chunk sent costs a round trip
        here and an event on every open stream. The first chunk always goes at once.
        """
        if not self.enabled:
            return
        if self._held_offset is None:
            self._held_offset = offset
        self._held.append(text)
        if tokens is not None:
            self._held_tokens = tokens
        now = time.monotonic()
        if now - self._last_sent >= settings.JOB_STREAM_CHUNK_INTERVAL:
            self._last_sent = now
            self.flush()

    def flush(self) -> None:
        """Send the chunks held back, as one."""
        if self._held_offset is None:
            return
        offset, text = self._held_offset, "".join(self._held)
        self._held_offset, self._held = None, []
        key = output_key(self.job_id, self.attempt)
        message: dict[str, Any] = {"type": "chunk", "offset": offset, "text": text}
        if self._held_tokens is not None:
            message["tokens"] = self._held_tokens
        stored_before = self._stored_bytes
        self._parts.append(text)
        self._stored_bytes += len(text.encode())

        def send() -> None:
            keys, args = [key, channel_name(self.job_id)], [stored_before, text, OUTPUT_TTL_SECONDS]
            if _append_at()(keys=keys, args=[*args, self._message(message)]):
                if self.step is not None:
                    pipe = _client().pipeline(transaction=False)
                    self._step_event(pipe, message)
                    pipe.execute()
                return
            # The stored output is not what was sent so far: store it whole again.
            pipe = _client().pipeline(transaction=True)
            pipe.set(key, "".join(self._parts), ex=OUTPUT_TTL_SECONDS)
            self._publish(pipe, message)
            self._step_event(pipe, message)
            pipe.execute()

        self._best_effort("a chunk", send)

    def status(self, status: str, *, terminal: bool = False) -> None:
        if not self.enabled:
            return
        self.flush()  # every chunk of the attempt before its status

        def send() -> None:
            pipe = _client().pipeline(transaction=True)
            self._publish(pipe, {"type": "status", "status": status})
            if terminal:
                # The database holds the whole output now; late readers use it.
                pipe.expire(output_key(self.job_id, self.attempt), TERMINAL_OUTPUT_TTL_SECONDS)
            pipe.execute()

        self._best_effort("a status", send)


def publish_status(job_id: object, attempt: int, status: str, *, terminal: bool = False) -> None:
    JobPublisher(job_id, attempt).status(status, terminal=terminal)


def event_id(source: object, attempt: int, offset: int) -> str:
    """Where a stream stands: whose output (a job id prefix), which attempt, how far."""
    return f"{str(source)[:8]}-{attempt}-{offset}"


def parse_event_id(raw: str | None) -> tuple[str, int, int] | None:
    """``"1a2b3c4d-2-150"`` → ("1a2b3c4d", 2, 150); None for anything else."""
    parts = (raw or "").split("-")
    if len(parts) != 3:
        return None
    try:
        return parts[0], int(parts[1]), max(int(parts[2]), 0)
    except ValueError:
        return None


# --- A workflow run's stream of step events ------------------------------------


@dataclass(frozen=True)
class StepOf:
    """Which run and step a step's job is (what its chunk events name)."""

    run_id: object
    step: str
    item: int | None

    def chunk_event(self, job_id: object, attempt: int, chunk: dict[str, Any]) -> dict[str, Any]:
        event = {
            "type": "chunk",
            "step": self.step,
            "item": self.item,
            "job": str(job_id),
            "attempt": attempt,
        }
        event["offset"], event["text"] = chunk["offset"], chunk["text"]
        if chunk.get("reset"):
            event["reset"] = True
        return event


def _add_events(
    pipe: Any, run_id: object, events: list[dict[str, Any]], *, ttl: int = OUTPUT_TTL_SECONDS
) -> None:
    key = steps_stream_key(run_id)
    for event in events:
        data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        pipe.xadd(key, {"data": data}, maxlen=STEPS_STREAM_MAXLEN, approximate=True)
    pipe.expire(key, ttl)


def publish_workflow_events(run_id: object, events: list[dict[str, Any]], *, terminal: bool = False) -> None:
    """Append events to a run's stream of steps, in one round trip (best effort, as every
    publish here: the step rows are the record). Once the run ended (``terminal``), the
    stream lives as long as a finished job's output does; late readers use the rows."""
    if not events or not streaming_enabled():
        return
    ttl = TERMINAL_OUTPUT_TTL_SECONDS if terminal else OUTPUT_TTL_SECONDS
    try:
        pipe = _client().pipeline(transaction=False)
        _add_events(pipe, run_id, events, ttl=ttl)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("run %s: could not add %d step events to Redis: %s", run_id, len(events), exc)


def _decoded(entries: Any) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for entry_id, fields in entries:
        raw = fields.get(b"data") or fields.get("data") or b"{}"
        ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        events.append((ident, json.loads(raw)))
    return events


def read_workflow_events(
    run_id: object, after_id: str | None = None, block_ms: int | None = None, *, count: int = 500
) -> list[tuple[str, dict[str, Any]]]:
    """The events of a run's stream after the entry ``after_id`` (None or "0": from the
    start), oldest first, as ``(entry id, event)``; with ``block_ms``, waits that long for
    one when there is none yet. ``[]`` without Redis, or when the stream expired (the run
    ended a while ago: read its step rows). The entry id is what a reader gives back to
    resume (the SSE ``id:``; ``Last-Event-ID`` on a reconnect). Raises redis.RedisError.

    Every event is a JSON object with ``type``:

    ``step`` – a step row changed (``JobStep.event``)::

        {"type": "step", "step": "sections", "item": 2 | null, "status": "running",
         "input_tokens": 12 | null, "output_tokens": 40 | null, "cost": "0.000120" | null,
         "started_at": ISO 8601 | null, "finished_at": ISO 8601 | null,
         "error_code": "" | "step_output_invalid" | …, "error": translated text | "",
         "job": child job id | null}

      ``item`` is null for the step as a whole; a ``for_each`` step has events for the
      whole step and for each item. The status is a ``StepStatus``.

    ``chunk`` – text a running step's job streamed::

        {"type": "chunk", "step": "outline", "item": null, "job": child job id,
         "attempt": 1, "offset": 120, "text": "…", "reset": true (only on a reset)}

      ``offset`` counts characters of that job's attempt's output; a new ``job`` (a JSON
      answer asked again) or ``attempt`` (a retry), or ``reset``, starts the step's text
      afresh.

    ``run`` – the run's own status: ``{"type": "run", "status": "succeeded", "terminal": true}``.
    """
    if not streaming_enabled():
        return []
    start = after_id if after_id else "0-0"
    answer = _client().xread({steps_stream_key(run_id): start}, count=count, block=block_ms)
    if not answer:
        return []
    return _decoded(answer[0][1])


async def aread_workflow_events(
    client: Any, run_id: object, after_id: str | None = None, block_ms: int | None = None, *, count: int = 500
) -> list[tuple[str, dict[str, Any]]]:
    """``read_workflow_events`` for async code, on the caller's ``redis.asyncio`` client
    (a blocking read holds its connection for ``block_ms``: the caller sizes its pool)."""
    start = after_id if after_id else "0-0"
    answer = await client.xread({steps_stream_key(run_id): start}, count=count, block=block_ms)
    if not answer:
        return []
    return _decoded(answer[0][1])
