"""The models a run may choose instead of the template's own (``allowed_models``).

A run on another model spends the server's key, so a caller may override the
template's provider and model only with a model its author listed (and only one
with a known price: see ``jobs.services.chosen_model``). Each entry is ``provider/model``,
the form Dotprompt and most gateways use; the provider is a slug, so the first
``/`` separates it and the model name may hold more (``openrouter/meta/llama``).
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

MAX_ALLOWED_MODELS = 50
# The lengths of TemplateVersion.provider and .model, which use them.
PROVIDER_MAX_LENGTH = 40
MODEL_MAX_LENGTH = 100
# No whitespace or control characters in the model name (PostgreSQL's jsonb refuses NUL).
_ENTRY = re.compile(r"(?P<provider>[-a-zA-Z0-9_]+)/(?P<model>[^\s\x00-\x1f\x7f/][^\s\x00-\x1f\x7f]*)")


def model_choice(provider: str, model: str) -> str:
    return f"{provider}/{model}"


def split_model_choice(entry: str) -> tuple[str, str]:
    provider, _sep, model = entry.partition("/")
    return provider, model


def allowed_models_errors(value: Any) -> list[str]:
    """What is wrong with an ``allowed_models`` value, for people (empty when nothing is)."""
    if not isinstance(value, list):
        return [_("List the models as provider/model, one per line.")]
    if len(value) > MAX_ALLOWED_MODELS:
        return [_("At most %(max)d models may be listed.") % {"max": MAX_ALLOWED_MODELS}]
    errors = []
    seen: set[str] = set()
    for entry in value:
        if not isinstance(entry, str) or not (match := _ENTRY.fullmatch(entry)):
            errors.append(
                _("“%(entry)s” is not a provider/model pair such as anthropic/claude-sonnet-4-5.")
                % {"entry": str(entry)[:200]}
            )
            continue
        if len(match["provider"]) > PROVIDER_MAX_LENGTH or len(match["model"]) > MODEL_MAX_LENGTH:
            errors.append(
                _("“%(entry)s” is too long (provider at most %(provider)d characters, model %(model)d).")
                % {"entry": entry[:200], "provider": PROVIDER_MAX_LENGTH, "model": MODEL_MAX_LENGTH}
            )
        elif entry in seen:
            errors.append(_("“%(entry)s” is listed twice.") % {"entry": entry})
        seen.add(entry)
    return errors


def allowed_models_from_text(text: str) -> list[str]:
    """The editor's textarea (one per line, blank lines ignored) as a list."""
    return [line.strip() for line in text.splitlines() if line.strip()]
