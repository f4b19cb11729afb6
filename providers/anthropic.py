"""Anthropic's Messages API through the official SDK, streaming."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cached_property

import anthropic
import httpx2
from django.conf import settings

from . import GenerationRequest, ProviderError, StreamEvent, TextDelta, Usage, error_for_status


class AnthropicProvider:
    """Configured by ANTHROPIC_API_KEY and (optionally) ANTHROPIC_BASE_URL."""

    name = "anthropic"

    def is_available(self) -> bool:
        return bool(os.environ.get("ANTHROPIC_API_KEY"))

    @cached_property
    def client(self) -> anthropic.Anthropic:
        # One client per worker process: its connection pool keeps connections
        # alive between jobs. Our own retries are the only ones.
        return anthropic.Anthropic(
            max_retries=0,
            timeout=anthropic.Timeout(
                settings.PROVIDER_READ_TIMEOUT, connect=settings.PROVIDER_CONNECT_TIMEOUT
            ),
        )

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        if not self.is_available():
            raise ProviderError(
                "ANTHROPIC_API_KEY is not set.", code="provider_not_configured", retryable=False
            )
        kwargs = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            # No temperature: the current Messages API (SDK 2.x) has no sampling parameters.
            "messages": [{"role": "user", "content": request.prompt}],
            "stream": True,
        }
        if request.system_prompt:
            kwargs["system"] = request.system_prompt
        input_tokens = output_tokens = 0
        finished = False
        try:
            for event in self.client.messages.create(**kwargs):
                if event.type == "message_start":
                    input_tokens = event.message.usage.input_tokens or 0
                    output_tokens = event.message.usage.output_tokens or 0
                    yield Usage(input_tokens=input_tokens, output_tokens=output_tokens, partial=True)
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    yield TextDelta(event.delta.text)
                elif event.type == "message_delta":
                    output_tokens = event.usage.output_tokens or output_tokens
                    if event.delta.stop_reason == "refusal":
                        raise ProviderError("The model refused.", code="content_refused", retryable=False)
                elif event.type == "message_stop":
                    finished = True
        except anthropic.APIStatusError as exc:
            raise error_for_status(
                exc.status_code, exc.message, exc.response.headers.get("retry-after")
            ) from exc
        except anthropic.APITimeoutError as exc:
            raise ProviderError(str(exc), code="timeout", retryable=True) from exc
        except (anthropic.APIConnectionError, httpx2.TransportError) as exc:
            # The SDK wraps transport errors when it opens the stream, but not
            # while it is read (a cut stream, a read timeout): catch both.
            if isinstance(exc, httpx2.TimeoutException):
                raise ProviderError(str(exc), code="timeout", retryable=True) from exc
            code = "stream_interrupted" if input_tokens else "connection_error"
            raise ProviderError(str(exc), code=code, retryable=True) from exc
        if not finished:
            raise ProviderError(
                "The stream ended before message_stop.", code="stream_interrupted", retryable=True
            )
        yield Usage(input_tokens=input_tokens, output_tokens=output_tokens)
