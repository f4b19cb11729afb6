"""LLM providers behind one small interface.

A provider streams ``TextDelta`` events and ends with one ``Usage`` event; it
may report usage known earlier as ``Usage(partial=True)`` (Anthropic's input
tokens at the start, for instance), so a cancelled job records what it spent. It
raises ``ProviderError`` for every failure, saying whether a retry may help
(and, when the provider said so, after how long).

Providers: ``offline`` (built in), ``anthropic`` and ``openai`` (configured by
the SDKs' own environment variables), and any OpenAI-compatible server added
as a ProviderConnection in the admin, under its connection name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationRequest:
    system_prompt: str
    prompt: str
    model: str
    temperature: float
    max_tokens: int


@dataclass(frozen=True)
class TextDelta:
    text: str
    tokens: int | None = None  # how many tokens this text is, when the provider knows


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    partial: bool = False  # so far, not the final count


StreamEvent = TextDelta | Usage


class ProviderError(Exception):
    """A failed generation. ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, code: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after


class Provider(Protocol):
    name: str

    def is_available(self) -> bool: ...

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]: ...


def error_for_status(status: int, message: str, retry_after: str | None = None) -> ProviderError:
    """Map an HTTP status from any provider to a ProviderError."""
    delay = _parse_retry_after(retry_after)
    if status == 429:
        return ProviderError(message, code="rate_limited", retryable=True, retry_after=delay)
    if status == 529:
        return ProviderError(message, code="overloaded", retryable=True, retry_after=delay)
    if status >= 500 or status in (408, 409):
        return ProviderError(message, code="provider_error", retryable=True, retry_after=delay)
    if status == 401:
        return ProviderError(message, code="authentication_failed", retryable=False)
    if status == 403:
        return ProviderError(message, code="permission_denied", retryable=False)
    if status == 404:
        return ProviderError(message, code="unknown_model", retryable=False)
    return ProviderError(message, code="invalid_request", retryable=False)


def _parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: our own backoff applies
    if when.tzinfo is None:
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def builtin_provider_names() -> list[str]:
    return ["offline", "anthropic", "openai"]


def provider_names() -> list[str]:
    from .models import ProviderConnection  # models load after the app registry

    return builtin_provider_names() + list(
        ProviderConnection.objects.filter(enabled=True).values_list("name", flat=True)
    )


# One client per provider name: (the configuration it was built for, the client). A
# changed configuration (an edited connection, new environment) replaces the entry, so
# the dict holds at most one client per name, however often a connection is edited.
_instances: dict[tuple[str, ...], tuple[tuple[str, ...], Provider]] = {}


def get_provider(name: str) -> Provider:
    """The provider of that name, one pooled client per process and name, rebuilt when
    its configuration changes."""
    slot: tuple[str, ...] = (name,)
    if name == "offline":
        key: tuple[str, ...] = ("offline",)
        factory = _offline
    elif name == "anthropic":
        key = ("anthropic", os.environ.get("ANTHROPIC_API_KEY", ""), os.environ.get("ANTHROPIC_BASE_URL", ""))
        factory = _anthropic
    elif name == "openai":
        key = ("openai", os.environ.get("OPENAI_API_KEY", ""), os.environ.get("OPENAI_BASE_URL", ""))
        factory = _openai
    else:
        from .models import ProviderConnection

        connection = ProviderConnection.objects.filter(name=name, enabled=True).first()
        if connection is None:
            _instances.pop(("connection", name), None)  # deleted or disabled: its client goes too
            raise ProviderError(f"Unknown provider “{name}”.", code="unknown_provider", retryable=False)
        _refuse_if_unsafe(connection.name, connection.base_url, connection.api_key_env)
        slot = ("connection", name)  # a connection may not shadow a built-in's entry
        key = ("connection", name, connection.base_url, connection.api_key_env, str(connection.updated_at))

        def factory() -> Provider:
            from .openai import OpenAIProvider

            return OpenAIProvider(
                name=connection.name,
                base_url=connection.base_url,
                api_key_env=connection.api_key_env or None,
                compatible=True,
                guarded=True,
            )

    built = _instances.get(slot)
    if built is None or built[0] != key:
        # The old client is dropped, not closed: a job in another thread may still be
        # streaming through it; its pool closes when the last reference goes.
        built = _instances[slot] = (key, factory())
    return built[1]


def provider_is_available(name: str) -> bool:
    """Whether runs on this provider can start now (its key is configured, its connection enabled)."""
    try:
        return get_provider(name).is_available()
    except ProviderError:
        return False


def _refuse_if_unsafe(name: str, base_url: str, api_key_env: str) -> None:
    """Check a connection again where its client is built: a row written past the
    model's validation (a migration, the shell, raw SQL) must still not send a secret."""
    from .egress import connection_problems

    problems = connection_problems(base_url, api_key_env, resolve_host=False)
    if problems:
        # The details are for the administrator (the log), not for whoever ran the job.
        logger.warning("provider connection %r refused: %s", name, problems)
        raise ProviderError("", code="connection_refused", retryable=False)


def _offline() -> Provider:
    from .offline import OfflineProvider

    return OfflineProvider()


def _anthropic() -> Provider:
    from .anthropic import AnthropicProvider

    return AnthropicProvider()


def _openai() -> Provider:
    from .openai import OpenAIProvider

    return OpenAIProvider()
