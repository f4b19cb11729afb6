"""Microsoft Prompty ``.prompty``: YAML front matter and a body with
``system:`` / ``user:`` role markers.

Reads both generations: v1 (``inputs`` as a map of name → ``type``,
``description``, ``default``, ``sample``, or a bare sample value; ``model.api``,
``model.configuration``, ``model.parameters``) and v2 (``inputs`` as a list of
properties with ``name``, ``kind``, ``required``, ``default``, ``enumValues``,
``example``; ``model.id``, ``model.provider``, ``model.options``). Writes v2.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from .base import (
    FormatError,
    ImportedTemplate,
    make_slug,
    provider_for,
    rename_parameters,
    require_body,
    split_front_matter,
    take_model_options,
    text_value,
    warn_unknown_keys,
    with_front_matter,
)
from .bodies import PROMPTY_ROLE, handlebars_to_jinja, split_roles
from .properties import ExportContext, kind_of, ordered, parameter_from_property, property_from_parameter

NAME = "prompty"
LABEL = "Prompty (.prompty)"
EXTENSIONS = (".prompty",)
CONTENT_TYPE = "text/markdown; charset=utf-8"

KNOWN_KEYS = {
    "name", "description", "metadata", "model", "inputs", "inputSchema", "sample", "template",
}  # fmt: skip
KINDS = {
    "float": "number",
    "int": "integer",
    "bool": "boolean",
    "str": "string",
    "list": "array",
    "dict": "object",
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _v2_property(raw: dict[str, Any]) -> dict[str, Any]:
    """A v2 property (``kind``, ``enumValues``, ``example``, nested ``items``/``properties``)
    in JSON Schema terms."""
    prop = {key: value for key, value in raw.items() if key not in ("name", "required")}
    kind = prop.pop("kind", prop.pop("type", None))
    if kind is not None:
        prop["type"] = KINDS.get(kind, kind)
    if "enumValues" in prop:
        prop["enum"] = prop.pop("enumValues")
    if "example" in prop:
        prop["examples"] = [prop.pop("example")]
    if isinstance(prop.get("items"), dict):
        prop["items"] = _v2_property(prop["items"])
    if isinstance(prop.get("properties"), list):
        children = [child for child in prop["properties"] if isinstance(child, dict)]
        prop["properties"] = {str(child.get("name")): _v2_property(child) for child in children}
        required = [str(child["name"]) for child in children if child.get("required")]
        if required:
            prop["required"] = required
    return prop


def _parameters(data: dict[str, Any], imported: ImportedTemplate) -> None:
    inputs = data.get("inputs")
    if inputs is None and isinstance(data.get("inputSchema"), dict):
        inputs = data["inputSchema"].get("properties")
    samples = data.get("sample") if isinstance(data.get("sample"), dict) else {}
    if isinstance(data.get("sample"), str):
        imported.warnings.append(_("The sample file “%(path)s” was not imported.") % {"path": data["sample"]})
    if inputs is None:
        return
    if isinstance(inputs, dict):
        entries = _v1_entries(inputs, samples)
    elif isinstance(inputs, list):
        entries = _v2_entries(inputs, samples)
    else:
        raise FormatError(_("“inputs” must be a map (Prompty v1) or a list (Prompty v2)."))
    for name, prop, required in entries:
        if not isinstance(required, bool):
            raise FormatError(_("Parameter “%(name)s”: “required” must be true or false.") % {"name": name})
        parameter = parameter_from_property(
            name, prop, required=required, warnings=imported.warnings, source="Prompty"
        )
        placeholder = parameter.get("placeholder")
        if placeholder is not None and placeholder == parameter.get("default"):
            del parameter["placeholder"]  # v1 shorthand: the value is both
        imported.parameters.append(parameter)


Entries = list[tuple[Any, dict[str, Any], Any]]  # (name, property in JSON Schema terms, required)


def _v1_entries(inputs: dict[str, Any], samples: dict[str, Any]) -> Entries:
    """v1 inputs: a map of name → spec (or a bare sample value, which is also the default)."""
    entries: Entries = []
    for name, spec in inputs.items():
        prop = dict(spec) if isinstance(spec, dict) else {"type": _kind(spec), "default": spec}
        required = prop.pop("required", False)
        if "sample" in prop:
            prop["examples"] = [prop.pop("sample")]
        elif name in samples:
            prop["examples"] = [samples[name]]
        if isinstance(prop.get("type"), str):
            prop["type"] = KINDS.get(prop["type"], prop["type"])
        entries.append((name, prop, required))
    return entries


def _v2_entries(inputs: list[Any], samples: dict[str, Any]) -> Entries:
    entries: Entries = []
    for position, raw in enumerate(inputs, start=1):
        if not isinstance(raw, dict):
            raise FormatError(_("Input %(position)d: must be a mapping.") % {"position": position})
        prop = _v2_property(raw)
        if "examples" not in prop and raw.get("name") in samples:
            prop["examples"] = [samples[raw.get("name")]]
        entries.append((raw.get("name"), prop, raw.get("required", False)))
    return entries


def _model(model: Any, imported: ImportedTemplate) -> None:
    if model is None:
        return
    if isinstance(model, str):
        model = {"id": model}
    if not isinstance(model, dict):
        raise FormatError(_("“model” must be a mapping."))
    warnings = imported.warnings
    configuration = model.get("configuration") if isinstance(model.get("configuration"), dict) else {}
    connection = model.get("connection") if isinstance(model.get("connection"), dict) else {}
    if configuration or connection:
        warnings.append(_("The model's connection settings (endpoint, keys) were not imported."))
    api = model.get("api") or model.get("apiType")
    if api not in (None, "chat"):
        warnings.append(_("The model API “%(api)s” is not supported; PromptLab uses chat.") % {"api": api})
    provider, model_name = _provider_and_model(model, configuration)
    imported.model_settings.update(provider_for(provider, model_name, warnings, "Prompty"))
    options = model.get("parameters") or model.get("options") or {}
    if not isinstance(options, dict):
        raise FormatError(_("The model parameters must be a mapping."))
    left = take_model_options(options, imported, ("max_tokens", "maxOutputTokens", "max_completion_tokens"))
    if left:
        warnings.append(_("Model parameters not imported: %(keys)s.") % {"keys": ", ".join(sorted(left))})


def _provider_and_model(model: dict[str, Any], configuration: dict[str, Any]) -> tuple[str, str]:
    """v2's ``provider`` and ``id``, or v1's ``configuration`` (OpenAI's or Azure's spelling)."""
    provider = model.get("provider") or configuration.get("type") or ""
    name = (
        model.get("id")
        or configuration.get("model")
        or configuration.get("azure_deployment")
        or configuration.get("name")
        or ""
    )
    return str(provider), str(name)


def _template_engine(template: Any) -> str:
    if isinstance(template, str):
        return template.lower()
    if isinstance(template, dict):
        format_ = template.get("format")
        if isinstance(format_, dict):
            return str(format_.get("kind", "jinja2")).lower()
        if isinstance(format_, str):
            return format_.lower()
        if isinstance(template.get("type"), str):
            return template["type"].lower()
    return "jinja2"


def parse(text: str) -> ImportedTemplate:
    data, body = split_front_matter(text)
    imported = ImportedTemplate()
    warn_unknown_keys(data, KNOWN_KEYS, imported.warnings)
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    warn_unknown_keys(metadata, {"slug"}, imported.warnings)
    imported.name = text_value(data, "name")
    imported.slug = make_slug(str(metadata.get("slug") or ""), imported.name)
    imported.description = text_value(data, "description")
    _parameters(data, imported)
    _model(data.get("model"), imported)
    system, user = split_roles(require_body(body), PROMPTY_ROLE, imported.warnings)
    engine = _template_engine(data.get("template"))
    if engine in ("mustache", "handlebars"):
        system = handlebars_to_jinja(system, imported.warnings)
        user = handlebars_to_jinja(user, imported.warnings)
    elif engine not in ("jinja2", "jinja", "nunjucks"):
        raise FormatError(_("The template engine “%(engine)s” is not supported.") % {"engine": engine})
    if not user.strip():
        raise FormatError(_("The file has no user message: add a “user:” section with the prompt."))
    imported.system_prompt, imported.body = system, user
    rename_parameters(imported)
    return imported


def dump(version: Any, warnings: list[str] | None = None) -> str:
    template = version.template
    context = ExportContext("Prompty")
    context.lost_allowed_models(version)
    context.lost_steps(version)
    inputs = []
    for parameter in ordered(version.parameters or [], context):
        kind = kind_of(parameter)
        prop = property_from_parameter(parameter, context)
        entry: dict[str, Any] = {"name": parameter["name"], "kind": prop.pop("type", "object")}
        if "description" in prop:
            entry["description"] = prop.pop("description")
        entry["required"] = bool(parameter.get("required", True))
        if "default" in prop:
            entry["default"] = prop.pop("default")
        if "examples" in prop:
            entry["example"] = prop.pop("examples")[0]
        if "enum" in prop:
            entry["enumValues"] = prop.pop("enum")
        if not kind.property_is_a_schema and isinstance(prop.get("items"), dict):
            items = prop.pop("items")
            entry["items"] = {
                "kind": items.get("type", "string"),
                **({"enumValues": items["enum"]} if "enum" in items else {}),
            }
            prop.pop("uniqueItems", None)
        if "title" in prop:
            prop.pop("title")
            context.lost(parameter, _("the label"))
        if kind.property_is_a_schema and prop:
            context.lost(parameter, _("its JSON Schema"))
            prop.clear()
        prop.pop("format", None)
        if prop:
            context.lost(parameter, _("the constraints %(keys)s") % {"keys": ", ".join(sorted(prop))})
        if kind.schema_format is not None:  # Prompty's kinds have no format
            context.lost(
                parameter, _("the type “%(type)s” (written as a string)") % {"type": parameter["type"]}
            )
        inputs.append(entry)
    data: dict[str, Any] = {"name": template.name}
    if template.description:
        data["description"] = template.description
    data["metadata"] = {"slug": template.slug}
    data["model"] = {
        "id": version.model,
        "provider": version.provider,
        "apiType": "chat",
        "options": {"temperature": version.temperature, "maxOutputTokens": version.max_tokens},
    }
    data["inputs"] = inputs
    data["template"] = {"format": {"kind": "jinja2"}, "parser": {"kind": "prompty"}}
    body = f"user:\n{version.body.strip()}"
    if version.system_prompt:
        body = f"system:\n{version.system_prompt.strip()}\n\n{body}"
    if warnings is not None:
        warnings.extend(context.warnings)
    return with_front_matter(data, body, context.warnings)
