"""Our parameters ↔ the JSON-Schema-like property descriptions that Prompd, Prompty and
Dotprompt all resemble. What each type writes and reads is the type's own
(``schema.types``: the same keyword table as the API's JSON Schema); here is only what
every property shares: its type's spelling, title, description, examples and default."""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..schema.types import TYPES, ParameterType, type_for_property
from ..schema.types.base import SchemaError
from ..schema.types.choices import choice_value
from ..schema.types.text import MULTILINE_MARK, json_pattern_to_ours, our_pattern_to_json
from .base import FormatError

__all__ = [
    "ExportContext",
    "choice_value",
    "english",
    "kind_of",
    "json_pattern_to_ours",
    "ordered",
    "our_pattern_to_json",
    "parameter_from_property",
    "property_from_parameter",
]

JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object")
# The common keys no format has a place for (a type lists its own: ``unexported_keys``).
_NOWHERE_KEYS = (
    ("group", gettext_lazy("“group”")),
    ("hidden", gettext_lazy("“hidden”")),
)


def english(value: Any) -> str:
    if isinstance(value, dict):
        return value.get("en") or next(iter(value.values()), "")
    return "" if value is None else str(value)


def _json_type(raw_type: Any, where: str, source: str) -> tuple[Any, bool]:
    """(the one JSON type, whether null is allowed too) of a property's ``type``."""
    nullable = False
    if isinstance(raw_type, list):
        kinds = [kind for kind in raw_type if kind != "null"]
        nullable = len(kinds) < len(raw_type)
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
    return raw_type, nullable


def parameter_from_property(
    name: Any, prop: dict[str, Any], *, required: bool, warnings: list[str], source: str
) -> dict[str, Any]:
    """Our parameter for one JSON-Schema-like property (keys already in JSON Schema spelling)."""
    if not isinstance(name, str) or not name:
        raise FormatError(_("A %(source)s parameter has no name.") % {"source": source})
    where = _("Parameter “%(name)s”") % {"name": name}
    prop = dict(prop)
    raw_type, nullable = _json_type(prop.pop("type", None), where, source)
    kind = type_for_property(raw_type, prop)
    parameter: dict[str, Any] = {"name": name, "type": kind.name}
    prop["type"] = raw_type  # for the type to read; not a key left over
    try:
        nullable = kind.from_property(prop, parameter, warnings, where) or nullable
    except SchemaError as exc:
        raise FormatError(exc.errors) from None
    prop.pop("type")
    prop.pop("enum", None)  # an enum on a type with no choices says nothing we keep
    prop.pop(MULTILINE_MARK, None)  # a reader's mark, not a key of the file
    _common_from_property(prop, parameter, kind.examples_are_placeholders)
    parameter["required"] = bool(required) and not nullable
    if "default" in prop:
        default = prop.pop("default")
        if default is not None:
            parameter["default"] = default
    if prop:
        warnings.append(
            _("%(where)s: not imported: %(keys)s.") % {"where": where, "keys": ", ".join(sorted(prop))}
        )
    return parameter


def _common_from_property(
    prop: dict[str, Any], parameter: dict[str, Any], examples_are_placeholders: bool
) -> None:
    if "title" in prop:
        parameter["label"] = str(prop.pop("title"))
    if "description" in prop:
        description = prop.pop("description")
        if description not in (None, ""):
            parameter["help"] = str(description)
    examples = prop.pop("examples", None)
    if isinstance(examples, list) and examples and examples_are_placeholders:
        first = examples[0]
        parameter["placeholder"] = first if isinstance(first, str) else json.dumps(first, ensure_ascii=False)


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

    def lost_allowed_models(self, version: Any) -> None:
        """The other formats name one model: the others a run may choose don't travel."""
        if version.allowed_models:
            self.lost(None, _("The other models a run may choose (allowed_models)"))

    def lost_steps(self, version: Any) -> None:
        """A workflow's steps: no other format has steps, so only PromptLab's own file holds them."""
        steps = version.steps or []
        if steps:
            names = ", ".join(str(step.get("name")) for step in steps if isinstance(step, dict))
            self.lost(
                None,
                _("The workflow's steps (%(names)s) and which one gives the result") % {"names": names},
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


def kind_of(parameter: dict[str, Any]) -> ParameterType:
    """The type of one of our (raw, already valid) parameters."""
    return TYPES.get(parameter.get("type", "string"), TYPES["string"])


def property_from_parameter(parameter: dict[str, Any], context: ExportContext) -> dict[str, Any]:
    """A JSON Schema property for one of our parameters; what it can't say goes to ``context``."""
    kind = kind_of(parameter)
    prop = kind.to_property(parameter, lambda what: context.lost(parameter, what))
    for ours, theirs in (("label", "title"), ("help", "description")):
        if ours in parameter:
            prop[theirs] = context.text(parameter, ours)
    if "placeholder" in parameter:
        prop["examples"] = [context.text(parameter, "placeholder")]
    if "default" in parameter:
        prop["default"] = parameter["default"]
    for key, what in (*_NOWHERE_KEYS, *kind.unexported_keys):
        if key in parameter:
            context.lost(parameter, str(what))
    return prop
