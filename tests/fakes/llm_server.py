"""A fake LLM provider for tests: real HTTP on 127.0.0.1, speaking the Anthropic and OpenAI wire protocols.

The official ``anthropic`` and ``openai`` SDKs talk to it unmodified, so tests exercise the real client
code paths (SSE parsing, status-code to exception mapping, ``Retry-After``, timeouts, broken streams)::

    with FakeLLMServer(reply="Hi there") as server:
        server.script(error(429, retry_after=2), ok())
        client = anthropic.Anthropic(api_key="test", base_url=server.base_url, max_retries=0)
        ...

Endpoints:

* ``POST /v1/messages`` -- Anthropic Messages API, JSON or SSE (``"stream": true``).
* ``POST /v1/chat/completions`` -- OpenAI Chat Completions, JSON or SSE (``"stream": true``, honouring
  ``"stream_options": {"include_usage": true}``).

Anything else gets a 404. Every request is recorded in :attr:`FakeLLMServer.calls`, with the times
it started and ended (so a test can tell which requests overlapped: :meth:`FakeLLMServer.overlap`,
:meth:`FakeLLMServer.most_at_once`).

Each request to a provider endpoint takes the next :class:`Behaviour` queued with
:meth:`FakeLLMServer.script`; once the queue is empty requests get a normal successful reply.
A :meth:`FakeLLMServer.when` rule comes before the queue: every request whose body contains
its text gets its behaviour (not used up), so a test can fail chosen inputs on purpose
whatever order they arrive in. :attr:`FakeLLMServer.max_in_flight` is the most provider
requests the server was answering at once. Build
behaviours with the factories :func:`ok`, :func:`error`, :func:`slow_first_token`, :func:`cut_after` and
:func:`per_chunk_delay`, or combine fields directly, e.g. ``Behaviour(chunk_delay=0.2, cut_after=3)``.

Token accounting: input tokens are the whitespace-separated words in the request's system prompt and
messages; output tokens are the number of reply chunks (the reply split into words, each keeping its
trailing whitespace).

Streams are sent with ``Transfer-Encoding: chunked`` and flushed after every event, so clients see
tokens as they are "generated", and a deliberately cut stream is detectably incomplete (no terminating
chunk) rather than a clean end of body.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "Behaviour",
    "FakeLLMServer",
    "cut_after",
    "error",
    "ok",
    "per_chunk_delay",
    "slow_first_token",
    "split_reply",
]

log = logging.getLogger(__name__)

ANTHROPIC_PATH = "/v1/messages"
OPENAI_PATH = "/v1/chat/completions"

Provider = Literal["anthropic", "openai"]


# --------------------------------------------------------------------------------------------------
# Behaviours
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """How the server answers one request.

    status: 200, or an error status (>= 400) to send the provider's error body instead of a reply.
    message: error message (a per-status default if None).
    retry_after: value of the ``Retry-After`` header on an error response (omitted if None).
    first_token_delay: seconds to wait before the first text delta. Streams send their headers and
        preamble (``message_start`` / the role chunk) first; non-streaming replies just wait.
    chunk_delay: seconds to wait before every text delta (non-streaming: once per chunk, in total).
    cut_after: stream this many text deltas, then close the connection without the closing events or
        the terminating HTTP chunk. A non-streaming request gets its connection closed with no response.
    reply: reply text for this request instead of the server's default.
    hold_until: an event the reply waits for (after the stream's preamble, before any text), so a
        test can keep a job running until it has done what it needs, with no timing window.
    """

    status: int = 200
    message: str | None = None
    retry_after: float | str | None = None
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None
    reply: str | None = None
    hold_until: threading.Event | None = None


def ok(reply: str | None = None) -> Behaviour:
    """A normal successful reply (optionally with a different reply text)."""
    return Behaviour(reply=reply)


def error(status: int, *, retry_after: float | str | None = None, message: str | None = None) -> Behaviour:
    """An error response with the provider's error body, e.g. ``error(429, retry_after=2)`` or ``error(529)``.

    Error responses carry ``Connection: close``.
    """
    if status < 400:
        raise ValueError(f"error() needs a 4xx/5xx status, got {status}")
    return Behaviour(status=status, retry_after=retry_after, message=message)


def slow_first_token(seconds: float) -> Behaviour:
    """Send the response headers at once, then wait ``seconds`` before the first text delta."""
    return Behaviour(first_token_delay=seconds)


def cut_after(n_chunks: int) -> Behaviour:
    """Stream ``n_chunks`` text deltas, then drop the connection mid-response."""
    if n_chunks < 0:
        raise ValueError("n_chunks must be >= 0")
    return Behaviour(cut_after=n_chunks)


def per_chunk_delay(seconds: float) -> Behaviour:
    """Wait ``seconds`` before every text delta, so the stream lasts a while."""
    return Behaviour(chunk_delay=seconds)


# --------------------------------------------------------------------------------------------------
# Wire formats
# --------------------------------------------------------------------------------------------------

_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

# status -> (type, code), as the OpenAI API sends them.
_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}

_DEFAULT_MESSAGES = {
    400: "Invalid request.",
    401: "Invalid API key.",
    403: "Permission denied.",
    404: "Not found.",
    429: "Rate limit exceeded. Please try again later.",
    500: "Internal server error.",
    529: "Overloaded.",
}


def split_reply(reply: str) -> list[str]:
    """Split ``reply`` into word chunks that keep their whitespace; ``"".join(chunks) == reply``."""
    chunks = re.findall(r"\s*\S+\s*", reply)
    return chunks if chunks or not reply else [reply]


def count_words(value: object) -> int:
    """Whitespace-separated words in a prompt: strings, lists, and ``text``/``content`` of dicts."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(count_words(item) for item in value)
    if isinstance(value, dict):
        return count_words(value.get("text")) + count_words(value.get("content"))
    return 0


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _error_body(provider: Provider, status: int, message: str) -> dict[str, Any]:
    if provider == "anthropic":
        default = "api_error" if status >= 500 else "invalid_request_error"
        return {
            "type": "error",
            "error": {"type": _ANTHROPIC_ERROR_TYPES.get(status, default), "message": message},
            "request_id": _new_id("req_fake"),
        }
    default_type = ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    type_, code = _OPENAI_ERROR_TYPES.get(status, default_type)
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class _Reply:
    """Everything a provider format needs to render one successful reply."""

    model: str
    chunks: list[str]
    input_tokens: int
    include_usage: bool  # OpenAI stream_options.include_usage

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def output_tokens(self) -> int:
        return len(self.chunks)


@dataclass(frozen=True)
class _Stream:
    """A stream as three groups of encoded SSE events; the server times and cuts between them."""

    preamble: list[bytes]
    deltas: list[bytes]
    epilogue: list[bytes]


def _anthropic_event(payload: dict[str, Any]) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + _json(payload) + b"\n\n"


def _anthropic_message(reply: _Reply, message_id: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }


def _anthropic_stream(reply: _Reply, message_id: str) -> _Stream:
    start = {
        **_anthropic_message(reply, message_id),
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1},
    }
    return _Stream(
        preamble=[
            _anthropic_event({"type": "message_start", "message": start}),
            _anthropic_event(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
            ),
        ],
        deltas=[
            _anthropic_event(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": chunk}}
            )
            for chunk in reply.chunks
        ],
        epilogue=[
            _anthropic_event({"type": "content_block_stop", "index": 0}),
            _anthropic_event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": reply.output_tokens},
                }
            ),
            _anthropic_event({"type": "message_stop"}),
        ],
    )


def _openai_usage(reply: _Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
    }


def _openai_completion(reply: _Reply, completion_id: str) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _openai_usage(reply),
    }


def _openai_stream(reply: _Reply, completion_id: str) -> _Stream:
    created = int(time.time())

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": reply.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if reply.include_usage:
            payload["usage"] = None  # as the real API does: null on every chunk but the last
        payload.update(extra)
        return b"data: " + _json(payload) + b"\n\n"

    def choice(delta: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]

    epilogue = [chunk(choice({}, "stop"))]
    if reply.include_usage:
        epilogue.append(chunk([], usage=_openai_usage(reply)))
    epilogue.append(b"data: [DONE]\n\n")
    return _Stream(
        preamble=[chunk(choice({"role": "assistant", "content": ""}))],
        deltas=[chunk(choice({"content": text})) for text in reply.chunks],
        epilogue=epilogue,
    )


# --------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------


class _Abort(Exception):
    """The exchange is over: the client went away, the connection was cut, or the server is stopping."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeLLMServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Reached only for exceptions outside _Handler._dispatch (e.g. a client reset between requests).
        exc = sys.exception()
        if exc is None or isinstance(exc, ConnectionError | TimeoutError):
            return
        self.fake._record_error(exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    server_version = "FakeLLM/1.0"
    sys_version = ""
    _headers_started = False  # once True, an unexpected failure can only drop the connection

    # -- connection lifecycle --------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - " + format, self.address_string(), *args)

    # -- dispatch --------------------------------------------------------------------------------

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        fake = self.server.fake
        self._headers_started = False
        path = urlsplit(self.path).path
        provider: Provider | None = {ANTHROPIC_PATH: "anthropic", OPENAI_PATH: "openai"}.get(path)
        call: dict[str, Any] | None = None
        try:
            body = self._read_json()
            headers = {k.lower(): v for k, v in self.headers.items()}
            call = fake._record_call(path, headers, body, client_port=self.client_address[1])
            if provider is None:
                self._send_error(
                    "anthropic" if path.startswith("/v1/messages") else "openai",
                    404,
                    f"No route for {self.command} {path}.",
                )
                return
            behaviour = fake._next_behaviour(provider, body)
            if behaviour.status >= 400:
                self._send_error(
                    provider,
                    behaviour.status,
                    behaviour.message or _DEFAULT_MESSAGES.get(behaviour.status, "Error."),
                    retry_after=behaviour.retry_after,
                )
                return
            if not isinstance(body, dict):
                self._send_error(provider, 400, "The request body must be a JSON object.")
                return
            with fake._in_flight():
                self._reply(provider, body, behaviour)
        except _Abort:
            self.close_connection = True
        except Exception as exc:
            fake._record_error(exc)
            self.close_connection = True
            if not self._headers_started:
                with contextlib.suppress(Exception):
                    self._send_error(provider or "openai", 500, f"Fake server failure: {exc!r}")
        finally:
            if call is not None:
                fake._record_end(call)

    def _read_json(self) -> object:
        """The request body parsed as JSON (None if absent or invalid). Needs ``Content-Length``."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    # -- responses -------------------------------------------------------------------------------

    def _start(self, status: int, headers: dict[str, str]) -> None:
        self._headers_started = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()  # also flushes the status line and headers

    def _send_json(self, status: int, payload: object, headers: dict[str, str]) -> None:
        data = _json(payload)
        self._start(status, {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers})
        self._write(data)

    def _send_error(
        self, provider: Provider, status: int, message: str, *, retry_after: float | str | None = None
    ) -> None:
        headers = {"Connection": "close"}
        if retry_after is not None:
            headers["Retry-After"] = _format_seconds(retry_after)
        headers.update(_request_id_header(provider))
        self.close_connection = True
        self._send_json(status, _error_body(provider, status, message), headers)

    def _reply(self, provider: Provider, body: dict[str, Any], behaviour: Behaviour) -> None:
        fake = self.server.fake
        input_words = count_words(body.get("messages"))
        if provider == "anthropic":
            input_words += count_words(body.get("system"))
        stream_options = body.get("stream_options")
        reply = _Reply(
            model=str(body.get("model") or "fake-model"),
            chunks=split_reply(behaviour.reply if behaviour.reply is not None else fake.reply),
            input_tokens=input_words,
            include_usage=isinstance(stream_options, dict) and bool(stream_options.get("include_usage")),
        )
        reply_id = _new_id("msg_fake") if provider == "anthropic" else _new_id("chatcmpl-fake")

        if not body.get("stream"):
            self._hold(behaviour.hold_until)
            self._pause(behaviour.first_token_delay + behaviour.chunk_delay * len(reply.chunks))
            if behaviour.cut_after is not None:
                self._drop_connection()
            payload = (
                _anthropic_message(reply, reply_id)
                if provider == "anthropic"
                else _openai_completion(reply, reply_id)
            )
            self._send_json(200, payload, _request_id_header(provider))
            return

        stream = (
            _anthropic_stream(reply, reply_id) if provider == "anthropic" else _openai_stream(reply, reply_id)
        )
        self._start(
            200,
            {
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "Transfer-Encoding": "chunked",
                **_request_id_header(provider),
            },
        )
        for event in stream.preamble:
            self._write_chunk(event)
        self._hold(behaviour.hold_until)
        self._pause(behaviour.first_token_delay)
        deltas = stream.deltas if behaviour.cut_after is None else stream.deltas[: behaviour.cut_after]
        for event in deltas:
            self._pause(behaviour.chunk_delay)
            self._write_chunk(event)
        if behaviour.cut_after is not None:
            self._drop_connection()
        for event in stream.epilogue:
            self._write_chunk(event)
        self._write(b"0\r\n\r\n")  # end of the chunked body

    # -- low level -------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError as exc:  # BrokenPipe, ConnectionReset, or closed by stop()
            raise _Abort from exc

    def _write_chunk(self, data: bytes) -> None:
        self._write(b"%X\r\n%s\r\n" % (len(data), data))

    def _hold(self, event: threading.Event | None, timeout: float = 60.0) -> None:
        """Wait for the test's event, polled with a deadline so stop() is never kept waiting."""
        deadline = time.monotonic() + timeout
        while event is not None and not event.wait(0.05):
            if self.server.fake._stopping.is_set() or time.monotonic() > deadline:
                raise _Abort

    def _pause(self, seconds: float) -> None:
        if seconds > 0 and self.server.fake._stopping.wait(seconds):
            raise _Abort  # the server is stopping: don't keep the handler (or stop()) waiting

    def _drop_connection(self) -> None:
        """Close the TCP connection mid-response (FIN, so the data already sent is still delivered)."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Abort


def _format_seconds(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _request_id_header(provider: Provider) -> dict[str, str]:
    if provider == "anthropic":
        return {"request-id": _new_id("req_fake")}
    return {"x-request-id": _new_id("req_fake")}


# --------------------------------------------------------------------------------------------------
# Public server
# --------------------------------------------------------------------------------------------------


class FakeLLMServer:
    """A fake Anthropic + OpenAI server on ``127.0.0.1:<free port>``, served from a daemon thread.

    ``reply`` is the default reply text for both APIs. Use as a context manager, or call :meth:`start`
    and :meth:`stop`. Safe to use from several threads: calls and the script are guarded by a lock.
    """

    def __init__(self, reply: str = "Hello from the fake provider.") -> None:
        self.reply = reply
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []
        self._script: deque[Behaviour] = deque()
        self._provider_scripts: dict[str, deque[Behaviour]] = {"anthropic": deque(), "openai": deque()}
        self._rules: list[tuple[str, Behaviour]] = []
        self._active = 0
        self._max_active = 0
        self._errors: list[BaseException] = []
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        """Bind a free port and serve in a daemon thread. Returns ``self``."""
        if self._httpd is not None:
            raise RuntimeError("FakeLLMServer already started")
        self._stopping.clear()
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-llm-server:{self._httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: wake delayed handlers, close open connections, release the port. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
            handler_threads = list(self._handler_threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for handler_thread in handler_threads:
            handler_thread.join(timeout=5)
        httpd.server_close()
        thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` -- the Anthropic SDK's ``base_url``."""
        if self._httpd is None:
            raise RuntimeError("FakeLLMServer is not running; call start() first")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` -- the OpenAI SDK's ``base_url``."""
        return self.base_url + "/v1"

    # -- scripting and inspection ----------------------------------------------------------------

    def script(self, *steps: Behaviour, provider: Provider | None = None) -> None:
        """Queue behaviours for the next provider requests, one per request, in order.

        Appends to whatever is still queued. When the queue is empty, requests get :func:`ok`.
        With ``provider`` the steps apply to that API's requests only (and come before the shared
        queue), so one provider can fail while the other is healthy.
        """
        with self._lock:
            (self._script if provider is None else self._provider_scripts[provider]).extend(steps)

    def when(self, contains: str, behaviour: Behaviour) -> None:
        """Answer every request whose JSON body contains ``contains`` with ``behaviour``
        (until :meth:`reset`), before any scripted step."""
        with self._lock:
            self._rules.append((contains, behaviour))

    @property
    def max_in_flight(self) -> int:
        """The most successful-reply requests being answered at the same time since the last reset."""
        with self._lock:
            return self._max_active

    def reset(self, reply: str | None = None) -> None:
        """Forget calls, queued behaviours and rules (between tests sharing one server)."""
        with self._lock:
            self._calls.clear()
            self._script.clear()
            self._rules.clear()
            self._max_active = self._active
            for queue in self._provider_scripts.values():
                queue.clear()
            if reply is not None:
                self.reply = reply

    @property
    def calls(self) -> list[dict[str, Any]]:
        """A snapshot of every request so far: ``{"path", "headers" (lower-case keys), "body", "at",
        "ended_at"}``.

        ``body`` is the parsed JSON, or None if the body was empty or not JSON. ``at`` is when the
        request arrived and ``ended_at`` when its answer was over (sent, cut or abandoned; None while
        it is still being answered), both ``time.monotonic()`` of this process.
        """
        with self._lock:
            return [dict(call) for call in self._calls]

    def calls_containing(self, text: str) -> list[dict[str, Any]]:
        """The requests whose JSON body contains ``text``, in arrival order."""
        return [call for call in self.calls if text in json.dumps(call["body"], ensure_ascii=False)]

    @staticmethod
    def overlap(first: dict[str, Any], second: dict[str, Any]) -> bool:
        """Whether two finished requests were being answered at the same time."""
        return first["at"] < second["ended_at"] and second["at"] < first["ended_at"]

    def most_at_once(self, calls: list[dict[str, Any]]) -> int:
        """The most of ``calls`` (finished ones) that were being answered at the same moment."""
        edges = sorted([(call["at"], 1) for call in calls] + [(call["ended_at"], -1) for call in calls])
        most = current = 0
        for _moment, change in edges:
            current += change
            most = max(most, current)
        return most

    @property
    def call_count(self) -> int:
        with self._lock:
            return len(self._calls)

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions raised inside request handlers (a bug in this fake); should stay empty."""
        with self._lock:
            return list(self._errors)

    # -- used by the handler ---------------------------------------------------------------------

    def _record_call(
        self, path: str, headers: dict[str, str], body: object, client_port: int = 0
    ) -> dict[str, Any]:
        call = {
            "path": path,
            "headers": headers,
            "body": body,
            "client_port": client_port,
            "at": time.monotonic(),
            "ended_at": None,
        }
        with self._lock:
            self._calls.append(call)
        return call

    def _record_end(self, call: dict[str, Any]) -> None:
        with self._lock:
            call["ended_at"] = time.monotonic()

    def _next_behaviour(self, provider: Provider, body: object = None) -> Behaviour:
        with self._lock:
            if self._rules:
                text = json.dumps(body, ensure_ascii=False)
                for contains, behaviour in self._rules:
                    if contains in text:
                        return behaviour
            for queue in (self._provider_scripts[provider], self._script):
                if queue:
                    return queue.popleft()
            return Behaviour()

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        with self._lock:
            self._active += 1
            self._max_active = max(self._max_active, self._active)
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def _record_error(self, exc: BaseException) -> None:
        log.error("fake LLM server handler failed", exc_info=exc)
        with self._lock:
            self._errors.append(exc)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
                self._handler_threads.add(threading.current_thread())
            else:
                self._connections.discard(conn)
                self._handler_threads.discard(threading.current_thread())

    def __repr__(self) -> str:
        where = self.base_url if self._httpd is not None else "stopped"
        return f"<FakeLLMServer {where} calls={self.call_count}>"
