"""The parameter types: one class each, in a registry.

Adding a type is adding one ``ParameterType`` subclass (in the module of its family)
and listing it in ``TYPES``: parsing, the form, the HTML attributes, the JSON Schema,
the file formats and trial renders all ask the type (docs/schema.md, "Adding a type").
"""

from __future__ import annotations

from typing import Any

from .base import ParameterType
from .choices import BooleanType, ChoiceType, MultichoiceType
from .json_value import JsonType
from .ranges import DateType, IntegerType, NumberType
from .text import EmailType, FileType, MultilineTextType, StringType, UrlType

# In the order the docs list them.
TYPES: dict[str, ParameterType] = {
    kind.name: kind
    for kind in (
        StringType(),
        MultilineTextType(),
        IntegerType(),
        NumberType(),
        BooleanType(),
        ChoiceType(),
        MultichoiceType(),
        EmailType(),
        UrlType(),
        DateType(),
        JsonType(),
        FileType(),
    )
}
PARAMETER_TYPES = tuple(TYPES)
_BY_CLAIM_ORDER = sorted(TYPES.values(), key=lambda kind: kind.claim_order)


def type_for_property(schema_type: Any, prop: dict[str, Any]) -> ParameterType:
    """The type of a JSON-Schema-like property whose JSON type is ``schema_type``: the
    first that claims it (json claims every property)."""
    return next(kind for kind in _BY_CLAIM_ORDER if kind.claims(schema_type, prop))


__all__ = ["PARAMETER_TYPES", "TYPES", "ParameterType", "type_for_property"]
