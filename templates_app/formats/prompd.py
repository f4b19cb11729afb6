"""Prompd ``.prmd``: YAML front matter with a ``parameters`` list, a Markdown body
in Jinja2/Nunjucks ``{{ var }}`` or the older single-brace ``{var}``, and
``# System`` / ``# User`` sections (or a ``system:`` key) for the roles."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

from ..schema.types.text import MULTILINE_MARK
from .base import (
    FormatError,
    ImportedTemplate,
    make_slug,
    max_tokens_value,
    provider_for,
    rename_parameters,
    require_body,
    split_front_matter,
    temperature_value,
    text_value,
    warn_unknown_keys,
    with_front_matter,
)
from .bodies import single_braces_to_jinja
from .properties import ExportContext, kind_of, ordered, parameter_from_property, property_from_parameter

NAME = "prompd"
LABEL = "Prompd (.prmd)"
EXTENSIONS = (".prmd",)
CONTENT_TYPE = "text/markdown; charset=utf-8"

KNOWN_KEYS = {
    "id", "name", "description", "version", "parameters", "system",
    "provider", "model", "temperature", "max_tokens",
}  # fmt: skip
TYPE_ALIASES = {
    "str": "string", "text": "string", "int": "integer", "float": "number", "bool": "boolean",
    "list": "array", "dict": "object", "json": "object",
}  # fmt: skip
# Prompd spells a JSON Schema keyword several ways; the first spelling is JSON Schema's.
SPELLINGS = {
    "minimum": ("minimum", "min", "min_value"),
    "maximum": ("maximum", "max", "max_value"),
    "minLength": ("minLength", "min_length"),
    "maxLength": ("maxLength", "max_length"),
    "minItems": ("minItems", "min_items"),
    "maxItems": ("maxItems", "max_items"),
    "multipleOf": ("multipleOf", "step"),
}
SYSTEM_HEADING = re.compile(r"^#[ \t]+system[ \t]*$", re.M | re.I)
ANY_HEADING = re.compile(r"^#[ \t]+\S.*$", re.M)
USER_HEADING = re.compile(r"\A\s*#[ \t]+user[ \t]*\n", re.I)


def _property(raw: dict[str, Any], warnings: list[str]) -> tuple[str, dict[str, Any], bool]:
    prop = {key: value for key, value in raw.items() if key not in ("name", "required")}
    kind = prop.get("type")
    if isinstance(kind, str) and kind.lower() in TYPE_ALIASES:
        prop["type"] = TYPE_ALIASES[kind.lower()]
        if kind.lower() == "text":
            prop[MULTILINE_MARK] = True  # our "text" type claims it
    for canonical, spellings in SPELLINGS.items():
        for spelling in spellings:
            if spelling in prop and spelling != canonical:
                prop.setdefault(canonical, prop.pop(spelling))
    if "label" in prop:
        prop["title"] = prop.pop("label")
    if "example" in prop:
        prop["examples"] = [prop.pop("example")]
    required = raw.get("required", False)
    if isinstance(required, list) and prop.get("type") == "object":
        prop["required"], required = required, False  # the object's required keys
    if not isinstance(required, bool):
        raise FormatError(
            _("Parameter “%(name)s”: “required” must be true or false.") % {"name": raw.get("name")}
        )
    return raw.get("name"), prop, required


def parse(text: str) -> ImportedTemplate:
    data, body = split_front_matter(text)
    imported = ImportedTemplate()
    warn_unknown_keys(data, KNOWN_KEYS, imported.warnings)
    imported.slug = make_slug(text_value(data, "id"))
    imported.name = text_value(data, "name")
    imported.description = text_value(data, "description")
    raw_parameters = data.get("parameters") or []
    if not isinstance(raw_parameters, list):
        raise FormatError(_("“parameters” must be a list of parameters."))
    for position, raw in enumerate(raw_parameters, start=1):
        if not isinstance(raw, dict):
            raise FormatError(_("Parameter %(position)d: must be a mapping.") % {"position": position})
        name, prop, required = _property(raw, imported.warnings)
        parameter = parameter_from_property(
            name, prop, required=required, warnings=imported.warnings, source="Prompd"
        )
        imported.parameters.append(parameter)
    names = {str(p["name"]) for p in imported.parameters}
    body = require_body(body)
    system_parts: list[str] = []
    system = text_value(data, "system").strip()
    if system:
        if re.match(r"^(\.{1,2}/|@)\S+$", system) or system.endswith((".md", ".txt")):
            imported.warnings.append(
                _("The system prompt refers to a file (%(path)s), which was not imported.") % {"path": system}
            )
        else:
            system_parts.append(system)
    heading = SYSTEM_HEADING.search(body)
    if heading:
        following = ANY_HEADING.search(body, heading.end())
        end = following.start() if following else len(body)
        system_parts.append(body[heading.end() : end].strip("\n"))
        body = (body[: heading.start()] + body[end:]).strip("\n")
    body = USER_HEADING.sub("", body, count=1).strip("\n")
    if not body.strip():
        raise FormatError(_("The file has no prompt body after its front matter."))
    imported.system_prompt = single_braces_to_jinja("\n\n".join(system_parts), names, imported.warnings)
    imported.body = single_braces_to_jinja(body, names, imported.warnings)
    if data.get("provider") or data.get("model"):
        imported.model_settings.update(
            provider_for(text_value(data, "provider"), text_value(data, "model"), imported.warnings, "Prompd")
        )
    temperature = temperature_value(data.get("temperature"), imported.warnings)
    if temperature is not None:
        imported.model_settings["temperature"] = temperature
    max_tokens = max_tokens_value(data.get("max_tokens"))
    if max_tokens is not None:
        imported.model_settings["max_tokens"] = max_tokens
    rename_parameters(imported)
    return imported


def _drop_extension_keywords(parameter: dict[str, Any], prop: dict[str, Any], context: ExportContext) -> None:
    """Prompd spells only JSON Schema's own keywords: a type's others are lost (once)."""
    kind = kind_of(parameter)
    if kind.lost_without_extension_keywords is None:
        return
    dropped = [prop.pop(theirs) for _ours, theirs in kind.keywords if theirs in prop]
    if dropped:
        context.lost(parameter, str(kind.lost_without_extension_keywords))


def dump(version: Any, warnings: list[str] | None = None) -> str:
    template = version.template
    context = ExportContext("Prompd")
    context.lost_allowed_models(version)
    context.lost_steps(version)
    parameters = []
    for parameter in ordered(version.parameters or [], context):
        prop = property_from_parameter(parameter, context)
        if "title" in prop:
            prop.pop("title")
            context.lost(parameter, _("the label"))
        if "examples" in prop:
            prop.pop("examples")
            context.lost(parameter, _("the placeholder"))
        _drop_extension_keywords(parameter, prop, context)
        entry: dict[str, Any] = {"name": parameter["name"], "type": prop.pop("type", "object")}
        entry["required"] = bool(parameter.get("required", True))
        if isinstance(prop.get("required"), list):
            # Prompd's own convention: on an object, "required" lists the object's required keys.
            if entry["required"]:
                context.lost(parameter, _("that it is required (“required” lists the object's keys)"))
            entry["required"] = prop.pop("required")
        if "description" in prop:
            entry["description"] = prop.pop("description")
        entry.update(prop)
        parameters.append(entry)
    data: dict[str, Any] = {"id": template.slug, "name": template.name, "version": "1.0.0"}
    if template.description:
        data["description"] = template.description
    data.update(
        {
            "provider": version.provider,
            "model": version.model,
            "temperature": version.temperature,
            "max_tokens": version.max_tokens,
            "parameters": parameters,
        }
    )
    body = version.body
    if version.system_prompt:
        body = f"# System\n\n{version.system_prompt.strip()}\n\n# User\n\n{body.strip()}"
    if warnings is not None:
        warnings.extend(context.warnings)
    return with_front_matter(data, body, context.warnings)
