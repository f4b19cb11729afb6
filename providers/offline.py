"""The built-in offline provider: a deterministic answer, streamed word by word.

It makes the demo alive with no API key and gives tests a provider with known
output. The answer is built from the rendered prompt, so different inputs give
different (and reproducible) output.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator

from django.conf import settings

from . import GenerationRequest, StreamEvent, TextDelta, Usage

TOKEN = re.compile(r"\S+\s*|\s+")

OBSERVATIONS = (
    "The request is clear and every parameter was used.",
    "A real model would now weigh tone, length and audience.",
    "Each run with the same inputs gives this same answer.",
    "Configure a provider key to get a model's own words here.",
)


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text)


class OfflineProvider:
    name = "offline"

    def __init__(self, delay: float | None = None) -> None:
        self.delay = settings.OFFLINE_PROVIDER_DELAY if delay is None else delay

    def is_available(self) -> bool:
        return True

    def answer(self, request: GenerationRequest) -> str:
        digest = hashlib.sha256(f"{request.system_prompt}\n{request.prompt}".encode()).digest()
        quoted = "\n".join(f"> {line}" for line in request.prompt.strip().splitlines()[:12])
        observation = OBSERVATIONS[digest[0] % len(OBSERVATIONS)]
        return (
            f"Offline answer from {request.model} (fingerprint {digest.hex()[:12]}).\n\n"
            f"You asked:\n{quoted}\n\n"
            f"{observation} This text was written by PromptLab's built-in offline provider, "
            "without calling a language model.\n"
        )

    def stream(self, request: GenerationRequest) -> Iterator[StreamEvent]:
        tokens = tokenize(self.answer(request))[: request.max_tokens]
        input_tokens = len(tokenize(request.system_prompt)) + len(tokenize(request.prompt))
        yield Usage(input_tokens=input_tokens, output_tokens=0, partial=True)
        for token in tokens:
            if self.delay:
                time.sleep(self.delay)
            yield TextDelta(token, tokens=1)
        yield Usage(input_tokens=input_tokens, output_tokens=len(tokens))
