"""Dotprompt ``.prompt`` (Firebase Genkit): YAML front matter (``model``,
``config``, ``input.schema`` in Picoschema or JSON Schema, ``input.default``)
and a Handlebars body, with ``{{role "system"}}`` markers for the roles.

Written back with a JSON Schema (Picoschema has no place for bounds, lengths
or patterns) and Handlebars converted from our Jinja2 where it can be.
"""

from __future__ import annotations

import re
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
from .bodies import HANDLEBARS_ROLE, handlebars_to_jinja, jinja_to_handlebars, split_roles
from .properties import ExportContext, ordered, parameter_from_property, property_from_parameter

NAME = "dotprompt"
LABEL = "Dotprompt (.prompt)"
EXTENSIONS = (".prompt",)
CONTENT_TYPE = "text/plain; charset=utf-8"

KNOWN_KEYS = {"name", "variant", "description", "model", "config", "input", "metadata"}
SCALARS = {"string", "number", "integer", "boolean", "null", "any"}
PICO_KEY = re.compile(r"^([A-Za-z_$][\w$]*)(\?)?(?:\(([^,)]+)(?:,\s*(.*))?\))?$")


# --- Picoschema → JSON Schema ----------------------------------------------------------


def _type_and_description(value: str) -> tuple[str, str | None]:
    kind, _sep, description = value.partition(",")
    return kind.strip(), description.strip() or None


def picoschema(schema: Any, where: str = "") -> dict[str, Any]:
    """Compile Picoschema to JSON Schema (as Dotprompt does); JSON Schema passes through."""
    if not isinstance(schema, dict):
        if isinstance(schema, str):
            kind, description = _type_and_description(schema)
            return _scalar(kind, description, where)
        raise FormatError(_("The input schema must be a mapping."))
    if schema.get("type") in (*SCALARS, "object", "array") or isinstance(schema.get("properties"), dict):
        return {"type": "object", **schema} if "type" not in schema else schema
    properties: dict[str, Any] = {}
    required: list[str] = []
    for key, value in schema.items():
        name, optional, prop = _pico_field(key, value, where)
        if not optional:
            required.append(name)
        properties[name] = prop
    compiled: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        compiled["required"] = required
    compiled["additionalProperties"] = False
    return compiled


def _pico_field(key: Any, value: Any, where: str) -> tuple[str, bool, dict[str, Any]]:
    """(name, optional, JSON Schema) of one Picoschema field such as ``tone?(enum, The tone)``."""
    match = PICO_KEY.match(str(key))
    if key == "(*)":
        raise FormatError(_("Wildcard fields “(*)” are not supported in the input schema."))
    if not match:
        raise FormatError(_("“%(key)s” is not a valid Picoschema field.") % {"key": key})
    name, optional, modifier, description = match.groups()
    field_where = f"{where}{name}"
    if modifier is None:
        prop = _pico_type(value, field_where)
    else:
        prop = _pico_modified(modifier.strip(), value, field_where)
    if description:
        prop["description"] = description
    if optional and "enum" in prop:
        prop["enum"] = [*prop["enum"], None]
    return name, bool(optional), prop


def _pico_type(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return {**picoschema(value, where + ".")}
    if isinstance(value, str):
        kind, text = _type_and_description(value)
        return _scalar(kind, text, where)
    raise FormatError(_("Field “%(name)s”: the type must be a text such as “string”.") % {"name": where})


def _pico_modified(modifier: str, value: Any, where: str) -> dict[str, Any]:
    """A field with a modifier: ``(enum)``, ``(array)`` or ``(object)``."""
    if modifier == "enum":
        if not isinstance(value, list) or not value:
            raise FormatError(_("Field “%(name)s”: an enum needs a list of values.") % {"name": where})
        return {"enum": list(value)}
    if modifier == "array":
        items = (
            picoschema(value, where + ".")
            if isinstance(value, dict)
            else _scalar(*_type_and_description(str(value)), where)
        )
        return {"type": "array", "items": items}
    if modifier == "object":
        return picoschema(value, where + ".")
    raise FormatError(
        _("Field “%(name)s”: unknown modifier “(%(modifier)s)”.") % {"name": where, "modifier": modifier}
    )


def _scalar(kind: str, description: str | None, where: str) -> dict[str, Any]:
    if kind not in SCALARS:
        raise FormatError(
            _("Field “%(name)s”: unknown type “%(type)s” (Picoschema knows: %(known)s).")
            % {"name": where, "type": kind, "known": ", ".join(sorted(SCALARS))}
        )
    prop: dict[str, Any] = {} if kind == "any" else {"type": kind}
    if description:
        prop["description"] = description
    return prop


# --- Reading and writing ---------------------------------------------------------------


def _model(data: dict[str, Any], imported: ImportedTemplate) -> None:
    model = data.get("model")
    if model is not None:
        if not isinstance(model, str):
            raise FormatError(_("“model” must be a text such as “openai/gpt-4o”."))
        provider, _sep, name = model.partition("/")
        if not name:
            provider, name = "", model
        imported.model_settings.update(provider_for(provider, name, imported.warnings, "Dotprompt"))
    config = data.get("config") or {}
    if not isinstance(config, dict):
        raise FormatError(_("“config” must be a mapping."))
    left = take_model_options(config, imported, ("maxOutputTokens",))
    if left:
        imported.warnings.append(
            _("Model settings not imported: %(keys)s.") % {"keys": ", ".join(sorted(left))}
        )


def parse(text: str) -> ImportedTemplate:
    data, body = split_front_matter(text, required=False)
    imported = ImportedTemplate()
    warn_unknown_keys(data, KNOWN_KEYS, imported.warnings)
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    promptlab = metadata.get("promptlab") if isinstance(metadata.get("promptlab"), dict) else {}
    imported.slug = make_slug(str(promptlab.get("slug") or ""), text_value(data, "name"))
    if data.get("variant") and not promptlab.get("slug"):
        imported.slug = make_slug(f"{imported.slug}-{text_value(data, 'variant')}")
    imported.name = str(promptlab.get("name") or "")
    imported.description = text_value(data, "description")
    _model(data, imported)
    _inputs(data.get("input") or {}, imported)
    system, user = split_roles(require_body(body), HANDLEBARS_ROLE, imported.warnings)
    imported.system_prompt = handlebars_to_jinja(system, imported.warnings)
    imported.body = handlebars_to_jinja(user, imported.warnings)
    if not imported.body.strip():
        raise FormatError(_('The file has no user message: add text after {{role "user"}}.'))
    rename_parameters(imported)
    return imported


def _inputs(input_: Any, imported: ImportedTemplate) -> None:
    """The parameters, from ``input.schema`` (Picoschema or JSON Schema) and ``input.default``."""
    if not isinstance(input_, dict):
        raise FormatError(_("“input” must be a mapping with “schema” and “default”."))
    warn_unknown_keys(input_, {"schema", "default"}, imported.warnings)
    defaults = input_.get("default") or {}
    if not isinstance(defaults, dict):
        raise FormatError(_("“input.default” must be a mapping of field names to values."))
    if input_.get("schema") is None:
        return
    if isinstance(input_["schema"], str):
        raise FormatError(_("Named schemas (“%(name)s”) are not supported.") % {"name": input_["schema"]})
    schema = picoschema(input_["schema"])
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise FormatError(_("The input schema must describe an object with properties."))
    required = set(schema.get("required") or [])
    for name, prop in schema["properties"].items():
        if not isinstance(prop, dict):
            raise FormatError(_("Field “%(name)s”: must be a mapping.") % {"name": name})
        prop = {**prop, "default": defaults[name]} if name in defaults else dict(prop)
        imported.parameters.append(
            parameter_from_property(
                name, prop, required=name in required, warnings=imported.warnings, source="Dotprompt"
            )
        )
    unknown = sorted(set(defaults) - set(schema["properties"]))
    if unknown:
        raise FormatError(
            _("“input.default” names unknown fields: %(names)s.") % {"names": ", ".join(unknown)}
        )


def dump(version: Any, warnings: list[str] | None = None) -> str:
    template = version.template
    context = ExportContext("Dotprompt")
    context.lost_allowed_models(version)
    context.lost_steps(version)
    properties: dict[str, Any] = {}
    required: list[str] = []
    defaults: dict[str, Any] = {}
    for parameter in ordered(version.parameters or [], context):
        prop = property_from_parameter(parameter, context)
        if "default" in prop:
            defaults[parameter["name"]] = prop.pop("default")
        properties[parameter["name"]] = prop
        if parameter.get("required", True):
            required.append(parameter["name"])
    data: dict[str, Any] = {"name": template.slug.replace("-", "_")}
    if template.description:
        data["description"] = template.description
    data["model"] = f"{version.provider}/{version.model}"
    data["config"] = {"temperature": version.temperature, "maxOutputTokens": version.max_tokens}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    data["input"] = {"schema": schema}
    if defaults:
        data["input"]["default"] = defaults
    data["metadata"] = {"promptlab": {"slug": template.slug, "name": template.name}}
    body = jinja_to_handlebars(version.body.strip(), context.warnings, "Dotprompt")
    if version.system_prompt:
        system = jinja_to_handlebars(version.system_prompt.strip(), context.warnings, "Dotprompt")
        body = f'{{{{role "system"}}}}\n{system}\n\n{{{{role "user"}}}}\n{body}'
    if warnings is not None:
        warnings.extend(context.warnings)
    return with_front_matter(data, body, context.warnings)
