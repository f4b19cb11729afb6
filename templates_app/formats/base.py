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
    steps: list[Any] = field(default_factory=list)  # a workflow's steps; [] for a single prompt
    result_step: str = ""
    warnings: list[str] = field(default_factory=list)

    def version_content(self) -> dict[str, Any]:
        content = {
            "system_prompt": self.system_prompt,
            "body": self.body,
            "parameters": self.parameters,
            "steps": self.steps,
            "result_step": self.result_step,
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


def take_model_options(
    options: dict[str, Any], imported: ImportedTemplate, token_keys: tuple[str, ...]
) -> dict[str, Any]:
    """A file's temperature and token limit (the first of ``token_keys`` it has) into the
    imported model settings; returns the options left over, not imported."""
    left = dict(options)
    temperature = temperature_value(left.pop("temperature", None), imported.warnings)
    if temperature is not None:
        imported.model_settings["temperature"] = temperature
    given = [left.pop(key) for key in token_keys if key in left]
    tokens = max_tokens_value(given[0] if given else None)
    if tokens is not None:
        imported.model_settings["max_tokens"] = tokens
    return left


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
