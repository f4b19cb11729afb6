"""PromptLab's own format: Markdown with YAML front matter. Lossless, but for a
theme's logo (an image, not text: the export says so). A workflow's steps and its
result step are front matter too (``steps:``, ``result_step:``), and its body may
then be empty.

---
slug: haiku
name: Haiku
description: Three lines about a topic.
visibility: public
cache_results: true
model: {provider: offline, model: offline-echo, temperature: 0.7, max_tokens: 256,
        allowed_models: [anthropic/claude-sonnet-4-5]}
theme: {primary: "#1d4ed8", font: serif, radius: 8}
system: You are a poet.
parameters:
  - {name: topic, type: string, label: {en: Topic, pt: Assunto}}
---
Write a haiku about {{ topic }}.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from ..steps_text import check_steps, readable_steps
from .base import (
    FormatError,
    ImportedTemplate,
    max_tokens_value,
    require_body,
    split_front_matter,
    temperature_value,
    text_value,
    warn_unknown_keys,
    with_front_matter,
)

NAME = "promptlab"
LABEL = "PromptLab (Markdown + YAML)"
EXTENSIONS = (".md",)
CONTENT_TYPE = "text/markdown; charset=utf-8"

KNOWN_KEYS = {
    "slug", "name", "description", "visibility", "cache_results", "model", "theme", "parameters", "system",
    "steps", "result_step",
}  # fmt: skip
MODEL_KEYS = {"provider", "model", "temperature", "max_tokens", "allowed_models"}


def parse(text: str) -> ImportedTemplate:
    data, body = split_front_matter(text)
    imported = ImportedTemplate()
    warn_unknown_keys(data, KNOWN_KEYS, imported.warnings)
    imported.slug = text_value(data, "slug")
    imported.name = text_value(data, "name")
    imported.description = text_value(data, "description")
    imported.system_prompt = text_value(data, "system").strip("\n")
    steps = data.get("steps") or []
    if not isinstance(steps, list):
        raise FormatError(_("“steps” must be a list of steps."))
    # A workflow runs its steps: its body may be empty.
    imported.body = body.strip("\n") if steps else require_body(body)
    if "visibility" in data:
        imported.visibility = text_value(data, "visibility")
    if "cache_results" in data:
        if not isinstance(data["cache_results"], bool):
            raise FormatError(_("“cache_results” must be true or false."))
        imported.cache_results = data["cache_results"]
    if data.get("theme") is not None:
        if not isinstance(data["theme"], dict):
            raise FormatError(_("“theme” must be a mapping (colours, font, radius, custom_css)."))
        imported.theme = data["theme"]
    parameters = data.get("parameters") or []
    if not isinstance(parameters, list):
        raise FormatError(_("“parameters” must be a list of parameters."))
    imported.parameters = parameters
    imported.result_step = text_value(data, "result_step")
    # Stored as the graph writes them (defaults filled in), so a file read again compares
    # equal to the version it made; steps with problems stay as written, for saving to refuse.
    imported.steps = check_steps(steps, parameters=parameters, result_step=imported.result_step).steps
    model = data.get("model") or {}
    if not isinstance(model, dict):
        raise FormatError(_("“model” must be a mapping with provider, model, temperature and max_tokens."))
    warn_unknown_keys(model, MODEL_KEYS, imported.warnings)
    for key in ("provider", "model"):
        if key in model:
            imported.model_settings[key] = text_value(model, key)
    temperature = temperature_value(model.get("temperature"), imported.warnings)
    if temperature is not None:
        imported.model_settings["temperature"] = temperature
    max_tokens = max_tokens_value(model.get("max_tokens"))
    if max_tokens is not None:
        imported.model_settings["max_tokens"] = max_tokens
    if "allowed_models" in model:
        imported.model_settings["allowed_models"] = allowed_models_value(model["allowed_models"])
    return imported


def allowed_models_value(value: Any) -> list[str]:
    """``allowed_models``: a list of provider/model texts (checked when the version is saved)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        raise FormatError(_("“allowed_models” must be a list of provider/model names."))
    return value


def dump(version: Any, warnings: list[str] | None = None) -> str:
    template = version.template
    data: dict[str, Any] = {
        "slug": template.slug,
        "name": template.name,
        "description": template.description,
        "visibility": str(template.visibility),
        "cache_results": template.cache_results,
        "model": {
            "provider": version.provider,
            "model": version.model,
            "temperature": version.temperature,
            "max_tokens": version.max_tokens,
        },
    }
    if version.allowed_models:
        data["model"]["allowed_models"] = list(version.allowed_models)
    if not template.description:
        del data["description"]
    theme = dict(version.theme or {})
    if theme.pop("logo", None) and warnings is not None:
        warnings.append(_("The theme's logo is an image, not in the file: upload it again after importing."))
    if theme:
        data["theme"] = theme
    if version.system_prompt:
        data["system"] = version.system_prompt
    data["parameters"] = version.parameters or []
    if version.steps:
        data["steps"] = readable_steps(version.steps)
        if version.result_step:
            data["result_step"] = version.result_step
    return with_front_matter(data, version.body, warnings)
