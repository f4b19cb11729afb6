"""LLM providers behind one small interface.

A provider streams ``TextDelta`` events and ends with one ``Usage`` event. It
raises ``ProviderError`` for every failure, saying whether a retry may help.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


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


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


StreamEvent = TextDelta | Usage


class ProviderError(Exception):
    """A failed generation. ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class Provider(Protocol):
    name: str

    def is_available(self) -> bool: ...

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]: ...

    def cost(self, model: str, usage: Usage) -> Decimal | None: ...


def _offline() -> Provider:
    from .offline import OfflineProvider

    return OfflineProvider()


# Lazily built, one instance per process (real providers keep a pooled client).
_FACTORIES: dict[str, Callable[[], Provider]] = {"offline": _offline}
_instances: dict[str, Provider] = {}


def provider_names() -> list[str]:
    return list(_FACTORIES)


def get_provider(name: str) -> Provider:
    if name not in _FACTORIES:
        raise ProviderError(f"Unknown provider “{name}”.", code="unknown_provider", retryable=False)
    if name not in _instances:
        _instances[name] = _FACTORIES[name]()
    return _instances[name]
