"""The fake LLM provider server, driven by the real ``anthropic`` and ``openai`` SDKs (no mocks).

These pin down what the SDKs actually do against each wire-level behaviour, so tests elsewhere can rely
on the fake: which exception each error status becomes, what a cut stream or a read timeout raises, and
that streamed tokens arrive live. None of them touch the database.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tests.fakes.llm_server import (
    Behaviour,
    FakeLLMServer,
    cut_after,
    error,
    ok,
    per_chunk_delay,
    slow_first_token,
    split_reply,
)

REPLY = "Hello from the fake provider."
CHUNKS = ["Hello ", "from ", "the ", "fake ", "provider."]
ANTHROPIC_MESSAGES = [{"role": "user", "content": "Say hello to the world"}]  # 5 words
OPENAI_MESSAGES = [
    {"role": "system", "content": "You are terse."},  # 3 words
    {"role": "user", "content": "Say hello to the world"},  # 5 words
]


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(reply=REPLY) as fake:
        yield fake
        assert fake.errors == []


@pytest.fixture
def claude(server: FakeLLMServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key="test", base_url=server.base_url, max_retries=0) as client:
        yield client


@pytest.fixture
def gpt(server: FakeLLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="test", base_url=server.openai_base_url, max_retries=0) as client:
        yield client


def claude_create(client: anthropic.Anthropic, **kwargs: Any) -> Any:
    """``messages.create`` with the usual model/messages (a Message, or a Stream with ``stream=True``)."""
    return client.messages.create(model="claude-test", max_tokens=64, messages=ANTHROPIC_MESSAGES, **kwargs)


def gpt_create(client: openai.OpenAI, **kwargs: Any) -> Any:
    """``chat.completions.create`` with the usual model/messages."""
    return client.chat.completions.create(model="gpt-test", messages=OPENAI_MESSAGES, **kwargs)


# --------------------------------------------------------------------------------------------------
# Anthropic Messages API
# --------------------------------------------------------------------------------------------------


def test_split_reply_keeps_whitespace() -> None:
    assert split_reply(REPLY) == CHUNKS
    assert split_reply("  lead and trail  ") == ["  lead ", "and ", "trail  "]
    assert split_reply("") == []


def test_anthropic_non_streaming(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-test",
        max_tokens=64,
        system=[{"type": "text", "text": "You are terse."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Say hello to the world"}]}],
    )

    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == "claude-test"
    assert message.id.startswith("msg_")
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == REPLY
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (8, 5)


def test_anthropic_raw_stream_events(claude: anthropic.Anthropic) -> None:
    with claude.messages.create(
        model="claude-test", max_tokens=64, messages=ANTHROPIC_MESSAGES, stream=True
    ) as stream:
        events = list(stream)

    assert [event.type for event in events] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 5,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start, block_start, *deltas, block_stop, message_delta, _stop = events
    assert start.message.content == []
    assert (start.message.usage.input_tokens, start.message.usage.output_tokens) == (5, 1)
    assert block_start.index == 0
    assert block_start.content_block.type == "text"
    assert [delta.delta.text for delta in deltas] == CHUNKS
    assert block_stop.index == 0
    assert message_delta.delta.stop_reason == "end_turn"
    assert message_delta.usage.output_tokens == 5


def test_anthropic_stream_helper(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="claude-test", max_tokens=64, messages=ANTHROPIC_MESSAGES) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()

    assert texts == CHUNKS
    assert final.content[0].text == REPLY
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (5, 5)


@pytest.mark.parametrize(
    ("status", "exc_type", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_errors(
    server: FakeLLMServer,
    claude: anthropic.Anthropic,
    status: int,
    exc_type: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    server.script(error(status, message="Scripted failure."))

    with pytest.raises(exc_type) as info:
        claude_create(claude)

    exc = info.value
    assert type(exc) is exc_type
    assert exc.status_code == status
    assert exc.type == error_type
    assert exc.api_message == "Scripted failure."
    assert exc.request_id is not None and exc.request_id.startswith("req_")
    assert exc.response.headers["content-type"] == "application/json"
    assert exc.response.headers["connection"] == "close"


def test_anthropic_rate_limit_retry_after(server: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    server.script(error(429, retry_after=2))

    with pytest.raises(anthropic.RateLimitError) as info:
        claude_create(claude, stream=True)  # status errors surface from create(), before any iteration

    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.body["error"]["type"] == "rate_limit_error"


def test_anthropic_sdk_retry_honours_retry_after(server: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    client = claude.with_options(max_retries=1)
    server.script(error(429, retry_after=0.05))

    message = claude_create(client)

    assert message.content[0].text == REPLY
    assert [call["headers"]["x-stainless-retry-count"] for call in server.calls] == ["0", "1"]


def test_anthropic_cut_stream_raises_raw_httpx2_error(
    server: FakeLLMServer, claude: anthropic.Anthropic
) -> None:
    server.script(cut_after(2))
    seen: list[str] = []

    # The Anthropic SDK does not wrap transport errors raised while iterating a stream.
    with (
        pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"),
        claude_create(claude, stream=True) as stream,
    ):
        for event in stream:
            seen.append(event.type)

    assert seen == ["message_start", "content_block_start", "content_block_delta", "content_block_delta"]


def test_anthropic_cut_stream_helper(server: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    server.script(cut_after(2))
    texts: list[str] = []

    with (
        pytest.raises(httpx2.RemoteProtocolError),
        claude.messages.stream(model="claude-test", max_tokens=64, messages=ANTHROPIC_MESSAGES) as stream,
    ):
        texts.extend(stream.text_stream)

    assert texts == CHUNKS[:2]


def test_anthropic_cut_non_streaming(server: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    server.script(cut_after(0))

    with pytest.raises(anthropic.APIConnectionError) as info:
        claude_create(claude)

    assert type(info.value) is anthropic.APIConnectionError
    assert type(info.value.__cause__) is httpx2.RemoteProtocolError


def test_anthropic_read_timeouts(server: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    client = claude.with_options(timeout=0.3)
    server.script(slow_first_token(30), slow_first_token(30))

    with pytest.raises(anthropic.APITimeoutError) as info:
        claude_create(client)
    assert type(info.value) is anthropic.APITimeoutError

    # Headers arrived in time, so the timeout hits mid-iteration, unwrapped.
    seen: list[str] = []
    with pytest.raises(httpx2.ReadTimeout), claude_create(client, stream=True) as stream:
        for event in stream:
            seen.append(event.type)
    assert seen == ["message_start", "content_block_start"]


# --------------------------------------------------------------------------------------------------
# OpenAI Chat Completions
# --------------------------------------------------------------------------------------------------


def test_openai_non_streaming(gpt: openai.OpenAI) -> None:
    completion = gpt.chat.completions.create(model="gpt-test", messages=OPENAI_MESSAGES)

    assert completion.object == "chat.completion"
    assert completion.model == "gpt-test"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (8, 5)
    assert completion.usage.total_tokens == 13


def test_openai_stream_with_usage(gpt: openai.OpenAI) -> None:
    deltas: list[str] = []
    roles: list[str] = []
    finish_reasons: list[str] = []
    usage = None
    with gpt.chat.completions.create(
        model="gpt-test",
        messages=OPENAI_MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        for chunk in stream:
            assert chunk.object == "chat.completion.chunk"
            if chunk.usage is not None:
                usage = chunk.usage
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                deltas.append(choice.delta.content)
            if choice.finish_reason:
                finish_reasons.append(choice.finish_reason)

    assert deltas == CHUNKS
    assert roles == ["assistant"]
    assert finish_reasons == ["stop"]
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (8, 5, 13)


def test_openai_stream_without_usage(gpt: openai.OpenAI) -> None:
    with gpt_create(gpt, stream=True) as stream:
        chunks = list(stream)

    assert len(chunks) == 1 + 5 + 1  # role chunk, content deltas, finish chunk
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("status", "exc_type", "error_type", "code"),
    [
        (400, openai.BadRequestError, "invalid_request_error", None),
        (401, openai.AuthenticationError, "invalid_request_error", "invalid_api_key"),
        (429, openai.RateLimitError, "requests", "rate_limit_exceeded"),
        (500, openai.InternalServerError, "server_error", None),
    ],
)
def test_openai_errors(
    server: FakeLLMServer,
    gpt: openai.OpenAI,
    status: int,
    exc_type: type[openai.APIStatusError],
    error_type: str,
    code: str | None,
) -> None:
    server.script(error(status, message="Scripted failure."))

    with pytest.raises(exc_type) as info:
        gpt_create(gpt)

    exc = info.value
    assert type(exc) is exc_type
    assert exc.status_code == status
    assert exc.type == error_type
    assert exc.code == code
    assert str(exc) == f"Error code: {status} - Scripted failure."
    assert exc.response.headers["connection"] == "close"


def test_openai_rate_limit_retry_after(server: FakeLLMServer, gpt: openai.OpenAI) -> None:
    server.script(error(429, retry_after=2))

    with pytest.raises(openai.RateLimitError) as info:
        gpt_create(gpt, stream=True)

    assert info.value.response.headers["retry-after"] == "2"


def test_openai_cut_stream_raises_api_connection_error(server: FakeLLMServer, gpt: openai.OpenAI) -> None:
    server.script(cut_after(2))
    deltas: list[str] = []

    # Unlike Anthropic's, the OpenAI SDK wraps transport errors raised mid-stream.
    with pytest.raises(openai.APIConnectionError) as info, gpt_create(gpt, stream=True) as stream:
        for chunk in stream:
            deltas.append(chunk.choices[0].delta.content)

    assert type(info.value) is openai.APIConnectionError
    assert type(info.value.__cause__) is httpx2.RemoteProtocolError
    assert deltas == ["", *CHUNKS[:2]]


def test_openai_read_timeout_mid_stream(server: FakeLLMServer, gpt: openai.OpenAI) -> None:
    client = gpt.with_options(timeout=0.3)
    server.script(slow_first_token(30))
    deltas: list[str | None] = []

    with pytest.raises(openai.APITimeoutError) as info, gpt_create(client, stream=True) as stream:
        for chunk in stream:
            deltas.append(chunk.choices[0].delta.content)

    assert type(info.value) is openai.APITimeoutError
    assert type(info.value.__cause__) is httpx2.ReadTimeout
    assert deltas == [""]  # only the role chunk came before the delay


# --------------------------------------------------------------------------------------------------
# The server itself
# --------------------------------------------------------------------------------------------------


def test_records_calls(server: FakeLLMServer, claude: anthropic.Anthropic, gpt: openai.OpenAI) -> None:
    claude_create(claude)
    gpt_create(gpt, stream=True, stream_options={"include_usage": True}).close()

    assert server.call_count == 2
    first, second = server.calls
    assert first["path"] == "/v1/messages"
    # anthropic 2.x sends the API key as a bearer token, not as ``x-api-key``.
    assert first["headers"]["authorization"] == "Bearer test"
    assert "x-api-key" not in first["headers"]
    assert "anthropic-version" in first["headers"]
    assert first["body"] == {"model": "claude-test", "max_tokens": 64, "messages": ANTHROPIC_MESSAGES}
    assert second["path"] == "/v1/chat/completions"
    assert second["headers"]["authorization"] == "Bearer test"
    assert second["body"]["stream"] is True
    assert second["body"]["stream_options"] == {"include_usage": True}
    assert second["body"]["messages"] == OPENAI_MESSAGES


def test_script_is_consumed_in_order_then_defaults_to_ok(
    server: FakeLLMServer, claude: anthropic.Anthropic, gpt: openai.OpenAI
) -> None:
    server.script(error(500), ok("First scripted."))
    server.script(ok("Second scripted."))

    with pytest.raises(anthropic.InternalServerError):
        claude_create(claude)
    assert gpt_create(gpt).choices[0].message.content == "First scripted."
    assert claude_create(claude).content[0].text == "Second scripted."
    assert gpt_create(gpt).choices[0].message.content == REPLY
    assert server.call_count == 4


def test_unknown_path_and_bad_json(server: FakeLLMServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as not_found:
        urllib.request.urlopen(server.base_url + "/v1/nope", timeout=5)
    assert not_found.value.code == 404
    assert json.loads(not_found.value.read())["error"]["type"] == "invalid_request_error"

    request = urllib.request.Request(server.base_url + "/v1/messages", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(request, timeout=5)
    assert bad.value.code == 400
    assert json.loads(bad.value.read())["error"]["type"] == "invalid_request_error"

    assert [(call["path"], call["body"]) for call in server.calls] == [
        ("/v1/nope", None),
        ("/v1/messages", None),
    ]


def test_tokens_are_streamed_live(server: FakeLLMServer, claude: anthropic.Anthropic) -> None:
    server.script(per_chunk_delay(0.15))
    arrivals: list[float] = []

    with claude.messages.stream(model="claude-test", max_tokens=64, messages=ANTHROPIC_MESSAGES) as stream:
        for _text in stream.text_stream:
            arrivals.append(time.monotonic())

    assert len(arrivals) == 5
    assert arrivals[-1] - arrivals[0] >= 0.5  # four gaps of 0.15 s: nothing was buffered up


def test_client_hanging_up_mid_stream_leaves_server_healthy(
    server: FakeLLMServer, gpt: openai.OpenAI
) -> None:
    server.script(Behaviour(chunk_delay=0.05, reply="one two three four five six seven eight"))

    with gpt_create(gpt, stream=True) as stream:
        next(iter(stream))  # then close: the server's next writes hit a dead socket

    assert gpt_create(gpt).choices[0].message.content == REPLY
    # (the fixture asserts server.errors == [] on teardown)


def test_concurrent_requests(server: FakeLLMServer, gpt: openai.OpenAI) -> None:
    server.script(*[slow_first_token(0.5)] * 4)
    results: list[str | None] = []
    lock = threading.Lock()

    def request() -> None:
        content = gpt_create(gpt).choices[0].message.content
        with lock:
            results.append(content)

    started = time.monotonic()
    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert results == [REPLY] * 4
    assert time.monotonic() - started < 1.5  # served in parallel, not 4 x 0.5 s
    assert server.call_count == 4


def test_stop_interrupts_a_long_stream() -> None:
    server = FakeLLMServer().start()
    try:
        with anthropic.Anthropic(api_key="test", base_url=server.base_url, max_retries=0) as client:
            server.script(per_chunk_delay(30))

            with claude_create(client, stream=True) as stream:
                events = iter(stream)
                assert next(events).type == "message_start"
                assert next(events).type == "content_block_start"

                started = time.monotonic()
                server.stop()  # wakes the handler parked in its 30 s delay and closes the connection
                assert time.monotonic() - started < 2

                with pytest.raises(httpx2.RemoteProtocolError):
                    next(events)
    finally:
        server.stop()  # idempotent

    assert server.errors == []
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url


def test_handler_exception_does_not_kill_the_server() -> None:
    with (
        FakeLLMServer() as server,
        openai.OpenAI(api_key="test", base_url=server.openai_base_url, max_retries=0) as client,
    ):
        server.script(Behaviour(first_token_delay="soon"))  # a deliberate bug

        with pytest.raises(openai.InternalServerError, match="Fake server failure"):
            gpt_create(client)
        assert gpt_create(client).choices[0].message.content == "Hello from the fake provider."

        assert [type(exc) for exc in server.errors] == [TypeError]
