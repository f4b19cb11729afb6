"""What the file formats share: the imported result, errors, front matter,
YAML output, and the translation between our parameters and JSON-Schema-like
property descriptions (which Prompd, Prompty and Dotprompt all resemble)."""

from __future__ import annotations

import datetime
import keyword
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from django.utils.text import slugify
from django.utils.translation import gettext as _

from promptlab.safe_load import TooDeeplyNested, load_yaml

from ..models import model_setting_defaults
from ..schema.parsing import NAME_PATTERN


class FormatError(ValueError):
    """A file that can't be imported; ``errors`` names each problem."""

    def __init__(self, errors: list[str] | str) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("; ".join(self.errors))


@dataclass
class ImportedTemplate:
    """A template read from a file, in PromptLab's terms, before it is saved."""

    slug: str = ""
    name: str = ""
    description: str = ""
    system_prompt: str = ""
    body: str = ""
    parameters: list[dict[str, Any]] = field(default_factory=list)
    model_settings: dict[str, Any] = field(default_factory=model_setting_defaults)
    visibility: str | None = None
    cache_results: bool | None = None  # None: the model's default
    theme: dict[str, Any] | None = None  # None: no theme in the file
    warnings: list[str] = field(default_factory=list)

    def version_content(self) -> dict[str, Any]:
        content = {
            "system_prompt": self.system_prompt,
            "body": self.body,
            "parameters": self.parameters,
            **self.model_settings,
        }
        if self.theme is not None:
            content["theme"] = self.theme
        return content


# --- Reading --------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """YAML's dates and times → ISO text, recursively (our dates are "YYYY-MM-DD" strings)."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def split_front_matter(text: str, *, required: bool = True) -> tuple[dict[str, Any], str]:
    """(front matter, body) of a Markdown-with-YAML file; FormatError when broken."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    if not text.strip():
        raise FormatError(_("The file is empty."))
    lines = text.split("\n")
    if lines[0].strip() != "---":
        if required:
            raise FormatError(_("The file has no YAML front matter (it must start with a line “---”)."))
        return {}, text
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        raise FormatError(_("The front matter is not closed by a line “---”."))
    try:
        metadata = load_yaml("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = _(" (line %(line)d)") % {"line": mark.line + 2} if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FormatError(
            _("The front matter is not valid YAML%(where)s: %(problem)s.")
            % {"where": where, "problem": problem}
        ) from None
    except TooDeeplyNested:
        raise FormatError(_("The front matter is nested too deeply.")) from None
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise FormatError(_("The front matter must be a mapping of keys to values."))
    return _plain(metadata), "\n".join(lines[end + 1 :])


def require_body(body: str) -> str:
    if not body.strip():
        raise FormatError(_("The file has no prompt body after its front matter."))
    return body.strip("\n")


def warn_unknown_keys(data: dict[str, Any], known: set[str], warnings: list[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        warnings.append(
            _("Not imported (PromptLab has no place for them): %(keys)s.") % {"keys": ", ".join(unknown)}
        )


def text_value(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise FormatError(_("“%(key)s” must be a text.") % {"key": key})
    return str(value)


def make_slug(*candidates: str | None) -> str:
    """The first candidate that makes a slug, or ""."""
    for candidate in candidates:
        slug = slugify(candidate or "")[:80].strip("-")
        if slug:
            return slug
    return ""


JINJA_TAGS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def our_name(name: str) -> str:
    """``firstName`` → ``first_name``: our parameter names are lower-case identifiers."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    snake = re.sub(r"[^a-z0-9_]", "_", snake)
    if not snake or snake[0].isdigit():
        snake = f"p_{snake}"
    snake = snake[:64]
    return f"{snake}_" if keyword.iskeyword(snake) else snake


def rename_parameters(imported: ImportedTemplate) -> None:
    """Give parameters whose names we can't use a name we can, in the schema and the prompts alike."""
    renames: dict[str, str] = {}
    taken = {p.get("name") for p in imported.parameters}
    for parameter in imported.parameters:
        name = parameter.get("name")
        if isinstance(name, str) and not (NAME_PATTERN.match(name) and not keyword.iskeyword(name)):
            new = our_name(name)
            while new in taken:
                new = f"{new}_"[:64]
            taken.add(new)
            renames[name] = new
            parameter["name"] = new
    if not renames:
        return
    words = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, renames)) + r")\b")

    def in_tag(match: re.Match[str]) -> str:
        return words.sub(lambda word: renames[word.group(1)], match.group(0))

    imported.system_prompt = JINJA_TAGS.sub(in_tag, imported.system_prompt)
    imported.body = JINJA_TAGS.sub(in_tag, imported.body)
    imported.warnings.append(
        _("Renamed to PromptLab parameter names (lower case, digits and underscores): %(names)s.")
        % {"names": ", ".join(f"{old} → {new}" for old, new in renames.items())}
    )


def name_from_slug(slug: str) -> str:
    return slug.replace("-", " ").replace("_", " ").strip().capitalize() or _("Imported template")


def temperature_value(value: Any, warnings: list[str]) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise FormatError(_("The temperature “%(value)s” is not a number.") % {"value": value}) from None


def max_tokens_value(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(
            _("The maximum number of tokens “%(value)s” is not a whole number.") % {"value": value}
        )
    return value


def provider_for(name: str | None, model: str | None, warnings: list[str], source: str) -> dict[str, Any]:
    """Our (provider, model) for a provider named in a file; unknown ones fall back to offline, saying so."""
    from providers import provider_names

    known = provider_names()
    aliases = {"azure": "openai", "azure_openai": "openai", "foundry": "openai", "openai": "openai"}
    wanted = (name or "").strip()
    provider = wanted if wanted in known else aliases.get(wanted.lower(), wanted.lower())
    if wanted.lower() in ("azure", "azure_openai", "foundry"):
        warnings.append(
            _(
                "The %(source)s provider “%(name)s” was imported as “openai”; its endpoint, deployment and "
                "key settings were not imported."
            )
            % {"source": source, "name": wanted}
        )
    if provider not in known or not model:
        if wanted or model:
            warnings.append(
                _(
                    "The model “%(model)s” of provider “%(name)s” is not available here; the template uses "
                    "the offline provider."
                )
                % {"model": model or "—", "name": wanted or "—"}
            )
        defaults = model_setting_defaults()
        return {"provider": defaults["provider"], "model": defaults["model"]}
    return {"provider": provider, "model": str(model)}


# --- Writing --------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.Node:
    return dumper.represent_float(float(value))


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(Decimal, _represent_decimal)


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )


def with_front_matter(data: dict[str, Any], body: str, warnings: list[str] | None = None) -> str:
    """The file: front matter (with any export warnings as YAML comments), then the body."""
    comments = ""
    if warnings:
        lines = [_("# Exported by PromptLab; not expressible in this format:")]
        lines += [f"# - {' '.join(warning.splitlines())}" for warning in warnings]
        comments = "\n".join(lines) + "\n"
    return f"---\n{comments}{dump_yaml(data)}---\n{body.rstrip()}\n"


# --- Parameters ↔ JSON-Schema-like properties -----------------------------------


def english(value: Any) -> str:
    if isinstance(value, dict):
        return value.get("en") or next(iter(value.values()), "")
    return "" if value is None else str(value)


def default_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def json_pattern_to_ours(pattern: str) -> str:
    """JSON Schema patterns search; ours (as HTML's) must match the whole value."""
    whole = re.fullmatch(r"\^\(\?:(.*)\)\$", pattern, re.DOTALL)
    if whole:
        return whole.group(1)
    starts = pattern.startswith("^")
    ends = pattern.endswith("$") and not pattern.endswith("\\$")
    inner = pattern[1 if starts else 0 : -1 if ends else None]
    if "|" in inner:
        inner = f"(?:{inner})"
    return ("" if starts else ".*") + inner + ("" if ends else ".*")


def our_pattern_to_json(pattern: str) -> str:
    return f"^(?:{pattern})$" if "|" in pattern else f"^{pattern}$"


JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object")


def parameter_from_property(
    name: Any, prop: dict[str, Any], *, required: bool, warnings: list[str], source: str
) -> dict[str, Any]:
    """Our parameter for one JSON-Schema-like property (keys already in JSON Schema spelling)."""
    if not isinstance(name, str) or not name:
        raise FormatError(_("A %(source)s parameter has no name.") % {"source": source})
    where = _("Parameter “%(name)s”") % {"name": name}
    prop = dict(prop)
    raw_type = prop.pop("type", None)
    if isinstance(raw_type, list):
        kinds = [kind for kind in raw_type if kind != "null"]
        if len(kinds) < len(raw_type):
            required = False
        raw_type = kinds[0] if len(kinds) == 1 else None if not kinds else raw_type
        if isinstance(raw_type, list):
            raise FormatError(
                _("%(where)s: a type that is one of several (%(types)s) is not supported.")
                % {"where": where, "types": ", ".join(map(str, raw_type))}
            )
    if raw_type is not None and raw_type not in (*JSON_TYPES, "any", "null"):
        raise FormatError(
            _("%(where)s: unknown type “%(type)s” (%(source)s knows: %(known)s).")
            % {"where": where, "type": raw_type, "source": source, "known": ", ".join(JSON_TYPES)}
        )
    parameter: dict[str, Any] = {"name": name}
    enum = prop.pop("enum", None)
    items = prop.get("items") if isinstance(prop.get("items"), dict) else None
    if enum is not None and raw_type in (None, "string", "integer", "number"):
        if not isinstance(enum, list) or not enum:
            raise FormatError(_("%(where)s: “enum” must be a non-empty list.") % {"where": where})
        if None in enum:
            required = False
        values = [value for value in enum if value is not None]
        if any(not isinstance(value, str) for value in values):
            warnings.append(_("%(where)s: its choices were turned into text.") % {"where": where})
        parameter["type"] = "choice"
        parameter["choices"] = [str(value) for value in values]
        if "default" in prop and prop["default"] is not None:
            prop["default"] = str(prop["default"])
    elif raw_type == "string":
        kind = {"email": "email", "uri": "url", "url": "url", "date": "date"}.get(
            prop.get("format"), "string"
        )
        if prop.get("format") in ("email", "uri", "url", "date"):
            prop.pop("format")
        parameter["type"] = kind
        if kind == "date":
            for ours, theirs in (("min", "formatMinimum"), ("max", "formatMaximum")):
                if theirs in prop:
                    parameter[ours] = str(prop.pop(theirs))
        else:
            for ours, theirs in (("min_length", "minLength"), ("max_length", "maxLength")):
                if theirs in prop:
                    parameter[ours] = prop.pop(theirs)
            if "pattern" in prop:
                parameter["pattern"] = json_pattern_to_ours(str(prop.pop("pattern")))
    elif raw_type in ("integer", "number"):
        parameter["type"] = raw_type
        for ours, theirs in (("min", "minimum"), ("max", "maximum"), ("step", "multipleOf")):
            if theirs in prop:
                parameter[ours] = prop.pop(theirs)
    elif raw_type == "boolean":
        parameter["type"] = "boolean"
    elif raw_type == "array" and items is not None and isinstance(items.get("enum"), list) and items["enum"]:
        prop.pop("items")
        parameter["type"] = "multichoice"
        parameter["choices"] = [str(value) for value in items["enum"]]
        for ours, theirs in (("min_items", "minItems"), ("max_items", "maxItems")):
            if theirs in prop:
                parameter[ours] = prop.pop(theirs)
        prop.pop("uniqueItems", None)
        extra = sorted(set(items) - {"type", "enum"})
        if extra:
            warnings.append(
                _("%(where)s: not imported: %(keys)s.")
                % {"where": where, "keys": ", ".join(f"items.{k}" for k in extra)}
            )
    else:
        # Arrays of free values, objects, and "any": a JSON value, checked against what the file said.
        parameter["type"] = "json"
        schema_keys = {
            "items", "properties", "required", "additionalProperties", "minItems", "maxItems", "uniqueItems",
            "minProperties", "maxProperties", "patternProperties",
        }  # fmt: skip
        schema = {key: prop.pop(key) for key in list(prop) if key in schema_keys}
        if raw_type in ("array", "object"):
            schema = {"type": raw_type, **schema}
        if schema:
            parameter["schema"] = schema
    if "title" in prop:
        parameter["label"] = str(prop.pop("title"))
    if "description" in prop:
        description = prop.pop("description")
        if description not in (None, ""):
            parameter["help"] = str(description)
    examples = prop.pop("examples", None)
    if (
        isinstance(examples, list)
        and examples
        and parameter["type"] not in ("boolean", "choice", "multichoice")
    ):
        parameter["placeholder"] = examples[0] if isinstance(examples[0], str) else _json_text(examples[0])
    parameter["required"] = bool(required)
    if "default" in prop:
        default = prop.pop("default")
        if default is not None:
            parameter["default"] = default
    if prop:
        warnings.append(
            _("%(where)s: not imported: %(keys)s.") % {"where": where, "keys": ", ".join(sorted(prop))}
        )
    return parameter


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


class ExportContext:
    """Collects what a format can't hold while our parameters are written in its terms."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.warnings: list[str] = []

    def lost(self, parameter: dict[str, Any] | None, what: str) -> None:
        if parameter is None:
            self.warnings.append(
                _("%(what)s: %(source)s has no place for it.") % {"what": what, "source": self.source}
            )
        else:
            self.warnings.append(
                _("Parameter “%(name)s”: %(what)s (%(source)s has no place for it).")
                % {"name": parameter.get("name"), "what": what, "source": self.source}
            )

    def text(self, parameter: dict[str, Any], key: str) -> str:
        """A localizable text in English; other languages are reported as lost."""
        value = parameter.get(key)
        if isinstance(value, dict) and set(value) - {"en"}:
            self.lost(parameter, _("the other languages of “%(key)s”") % {"key": key})
        return english(value)


def ordered(parameters: list[dict[str, Any]], context: ExportContext) -> list[dict[str, Any]]:
    """Parameters in display order: the formats keep order by position, not by number."""
    if any("order" in parameter for parameter in parameters):
        context.lost(None, _("“order” numbers (the parameters are written in display order)"))
    positions = {id(parameter): index for index, parameter in enumerate(parameters)}
    return sorted(parameters, key=lambda p: (p.get("order", positions[id(p)]), positions[id(p)]))


def property_from_parameter(parameter: dict[str, Any], context: ExportContext) -> dict[str, Any]:
    """A JSON Schema property for one of our parameters; what it can't say goes to ``context``."""
    kind = parameter.get("type", "string")
    prop: dict[str, Any] = {}
    if kind in ("string", "text", "email", "url", "file"):
        prop["type"] = "string"
        if kind == "email":
            prop["format"] = "email"
        elif kind == "url":
            prop["format"] = "uri"
        elif kind == "text":
            context.lost(parameter, _("multi-line text becomes a single-line string"))
        elif kind == "file":
            context.lost(parameter, _("a file upload becomes a text value"))
        if "min_length" in parameter:
            prop["minLength"] = parameter["min_length"]
        if "max_length" in parameter:
            prop["maxLength"] = parameter["max_length"]
        if "pattern" in parameter:
            prop["pattern"] = our_pattern_to_json(parameter["pattern"])
    elif kind in ("integer", "number"):
        prop["type"] = kind
        for ours, theirs in (("min", "minimum"), ("max", "maximum"), ("step", "multipleOf")):
            if ours in parameter:
                prop[theirs] = parameter[ours]
    elif kind == "boolean":
        prop["type"] = "boolean"
    elif kind == "date":
        prop["type"] = "string"
        prop["format"] = "date"
        for ours, theirs in (("min", "formatMinimum"), ("max", "formatMaximum")):
            if ours in parameter:
                prop[theirs] = parameter[ours]
    elif kind == "choice":
        prop["type"] = "string"
        prop["enum"] = [choice_value(choice) for choice in parameter.get("choices", [])]
    elif kind == "multichoice":
        prop["type"] = "array"
        prop["items"] = {"type": "string", "enum": [choice_value(c) for c in parameter.get("choices", [])]}
        prop["uniqueItems"] = True
        if "min_items" in parameter:
            prop["minItems"] = parameter["min_items"]
        if "max_items" in parameter:
            prop["maxItems"] = parameter["max_items"]
    elif kind == "json":
        schema = parameter.get("schema")
        if isinstance(schema, dict) and schema:
            prop.update(
                {
                    key: value
                    for key, value in schema.items()
                    if key not in ("title", "description", "default")
                }
            )
        else:
            prop["type"] = "object"
            context.lost(parameter, _("it accepts any JSON value; written as an object"))
    if kind in ("choice", "multichoice"):
        if any(
            isinstance(c, dict) and english(c.get("label", c.get("value"))) != c.get("value")
            for c in parameter.get("choices", [])
        ):
            context.lost(parameter, _("the choice labels"))
        if "widget" in parameter:
            context.lost(parameter, _("“widget”"))
    if "label" in parameter:
        prop["title"] = context.text(parameter, "label")
    if "help" in parameter:
        prop["description"] = context.text(parameter, "help")
    if "placeholder" in parameter:
        prop["examples"] = [context.text(parameter, "placeholder")]
    if "default" in parameter:
        prop["default"] = parameter["default"]
    for key, what in (
        ("group", _("“group”")),
        ("hidden", _("“hidden”")),
        ("pattern_message", _("“pattern_message”")),
        ("max_size", _("“max_size”")),
        ("extensions", _("“extensions”")),
    ):
        if key in parameter:
            context.lost(parameter, what)
    return prop


def choice_value(choice: Any) -> str:
    return choice.get("value") if isinstance(choice, dict) else str(choice)
