"""What a batch would cost, before it runs: a range per configuration.

Each distinct input runs once per configuration (identical rows share a job). Its prompt
tokens are estimated from the prompt's length, as characters ÷ 4 (the project counts no
tokens itself; the provider's count arrives with the answer): the low end is those
tokens at the model's input price (answers of next to nothing), the high end adds
``max_tokens`` of answer for each at its output price. A model without a price has an
unknown cost (None), never 0; a result already cached costs nothing, so the real cost
can be below the low end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from providers.models import price_of
from templates_app.models import TemplateVersion

from .validation import Validation

CHARACTERS_PER_TOKEN = 4


@dataclass(frozen=True)
class ConfigurationEstimate:
    label: str
    provider: str
    model: str
    runs: int
    prompt_tokens: int
    max_output_tokens: int
    low: Decimal | None
    high: Decimal | None

    @property
    def priced(self) -> bool:
        return self.low is not None and self.high is not None


@dataclass(frozen=True)
class Estimate:
    rows: int
    distinct: int
    configurations: list[ConfigurationEstimate]
    method: str  # how tokens were estimated, for the page to say

    @property
    def runs(self) -> int:
        return sum(item.runs for item in self.configurations)

    @property
    def low(self) -> Decimal | None:
        return _total([item.low for item in self.configurations])

    @property
    def high(self) -> Decimal | None:
        return _total([item.high for item in self.configurations])

    def as_json(self) -> dict[str, Any]:
        def money(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "rows": self.rows,
            "distinct": self.distinct,
            "runs": self.runs,
            "cost_low": money(self.low),
            "cost_high": money(self.high),
            "method": self.method,
            "configurations": [
                {
                    "label": item.label,
                    "provider": item.provider,
                    "model": item.model,
                    "runs": item.runs,
                    "prompt_tokens": item.prompt_tokens,
                    "max_output_tokens": item.max_output_tokens,
                    "cost_low": money(item.low),
                    "cost_high": money(item.high),
                }
                for item in self.configurations
            ],
        }


def _total(values: list[Decimal | None]) -> Decimal | None:
    """The sum, unknown when any part is (an unknown price is not 0)."""
    if any(value is None for value in values):
        return None
    return sum((value for value in values if value is not None), Decimal(0))


def _version_of(configuration: Any, default: TemplateVersion) -> TemplateVersion:
    for name in ("template_version", "version"):
        version = getattr(configuration, name, None)
        if version is not None:
            return version
    return default


def _prompt_characters(version: TemplateVersion, validated: TemplateVersion, validation: Validation) -> int:
    if version is validated or (version.pk is not None and version.pk == validated.pk):
        return validation.prompt_characters
    # Another version (a draft beside the published one): the same inputs in its text,
    # so its prompts differ by the difference of the templates' own lengths.
    difference = (
        len(version.body) + len(version.system_prompt) - len(validated.body) - len(validated.system_prompt)
    )
    return max(validation.prompt_characters + difference * validation.distinct, 0)


def estimate(
    version: TemplateVersion, validation: Validation, configurations: Sequence[Any] | None = None
) -> Estimate:
    """The estimate for the rows ``validation`` counted with ``version``. Each of
    ``configurations`` (a BatchConfiguration, the engine's ConfigurationSpec, or any
    object with ``label``, ``provider``, ``model`` and ``template_version`` or
    ``version``; None for the version's own) is priced on its own."""
    items = []
    for configuration in configurations or [None]:
        run_version = _version_of(configuration, version)
        provider = getattr(configuration, "provider", None) or run_version.provider
        model = getattr(configuration, "model", None) or run_version.model
        prompt_tokens = math.ceil(_prompt_characters(run_version, version, validation) / CHARACTERS_PER_TOKEN)
        max_output = validation.distinct * run_version.max_tokens
        items.append(
            ConfigurationEstimate(
                label=getattr(configuration, "label", "") or f"{provider} · {model}",
                provider=provider,
                model=model,
                runs=validation.distinct,
                prompt_tokens=prompt_tokens,
                max_output_tokens=max_output,
                low=price_of(provider, model, prompt_tokens, 0),
                high=price_of(provider, model, prompt_tokens, max_output),
            )
        )
    method = _(
        "Prompt tokens are estimated as characters ÷ %(ratio)s; the provider counts the real ones."
    ) % {"ratio": CHARACTERS_PER_TOKEN}
    return Estimate(rows=validation.valid, distinct=validation.distinct, configurations=items, method=method)
