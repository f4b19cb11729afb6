"""OpenAI's Chat Completions API through the official SDK, streaming.

Also serves any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio),
through OPENAI_BASE_URL or a named ProviderConnection.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cached_property
from typing import Any

import openai
from django.conf import settings

from . import GenerationRequest, ProviderError, StreamEvent, TextDelta, Usage, error_for_status
from .egress import GuardedTransport, is_refused_address

# Compatible servers without authentication still need a non-empty key for the SDK.
NO_KEY = "not-needed"


class OpenAIProvider:
    def __init__(
        self,
        *,
        name: str = "openai",
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        compatible: bool = False,
        guarded: bool = False,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.compatible = compatible
        # Named connections connect only to allowed addresses (see egress); the
        # built-in provider goes where the operator's OPENAI_BASE_URL says.
        self.guarded = guarded

    def _api_key(self) -> str | None:
        if self.api_key_env is None:
            return NO_KEY
        return os.environ.get(self.api_key_env) or None

    def is_available(self) -> bool:
        return self._api_key() is not None

    @cached_property
    def client(self) -> openai.OpenAI:
        # One client per worker process (pooled, kept alive); retries are ours.
        return openai.OpenAI(
            api_key=self._api_key(),
            base_url=self.base_url,  # None: the SDK reads OPENAI_BASE_URL
            http_client=openai.DefaultHttpxClient(transport=GuardedTransport()) if self.guarded else None,
            max_retries=0,
            timeout=openai.Timeout(settings.PROVIDER_READ_TIMEOUT, connect=settings.PROVIDER_CONNECT_TIMEOUT),
        )

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        if not self.is_available():
            raise ProviderError(
                f"{self.api_key_env} is not set.", code="provider_not_configured", retryable=False
            )
        messages: list[dict[str, str]] = []
        if request.system_prompt:
            messages.append({"role": "system", "content": request.system_prompt})
        messages.append({"role": "user", "content": request.prompt})
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        # OpenAI's own API wants max_completion_tokens; compatible servers know max_tokens.
        kwargs["max_tokens" if self.compatible else "max_completion_tokens"] = request.max_tokens
        usage: Usage | None = None
        finish_reason: str | None = None
        received = False
        try:
            for chunk in self.client.chat.completions.create(**kwargs):
                received = True
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                if not chunk.choices:  # the final usage chunk has none
                    continue
                choice = chunk.choices[0]
                if choice.delta is not None and choice.delta.content:
                    yield TextDelta(choice.delta.content)
                if choice.finish_reason:
                    finish_reason = choice.finish_reason
        except openai.APIStatusError as exc:
            raise error_for_status(
                exc.status_code, exc.message, exc.response.headers.get("retry-after")
            ) from exc
        except openai.APITimeoutError as exc:
            raise ProviderError(str(exc), code="timeout", retryable=True) from exc
        except openai.APIConnectionError as exc:
            if is_refused_address(exc):
                raise ProviderError("", code="connection_refused", retryable=False) from exc
            code = "stream_interrupted" if received else "connection_error"
            raise ProviderError(str(exc), code=code, retryable=True) from exc
        if finish_reason is None:
            raise ProviderError(
                "The stream ended without a finish reason.", code="stream_interrupted", retryable=True
            )
        if finish_reason == "content_filter":
            raise ProviderError(
                "The model's content filter stopped it.", code="content_refused", retryable=False
            )
        if usage is not None:  # servers that report no usage leave tokens (and cost) unknown
            yield usage
