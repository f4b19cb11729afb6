"""The parameter schema: the one source of truth for a template's inputs.

A schema is a list of parameters such as
``{"name": "tone", "type": "choice", "label": {"en": "Tone", "pt": "Tom"},
"choices": ["formal", "casual"], "default": "formal"}`` (the dialect is in
docs/schema.md). ``parsing`` checks it (every authoring error names the
parameter); ``parameters`` holds the parsed form and derives, from each
parameter alone, the Django form field with its HTML constraint attributes and
the JSON Schema; ``fields`` has the few form fields Django lacks. Nothing else
restates a constraint.
"""

from __future__ import annotations

from .checks import parameter_warnings
from .parameters import (
    PARAMETER_TYPES,
    Choice,
    Parameter,
    ParameterForm,
    ParameterSchema,
    localize,
)
from .parsing import SchemaError

__all__ = [
    "PARAMETER_TYPES",
    "Choice",
    "Parameter",
    "ParameterForm",
    "ParameterSchema",
    "SchemaError",
    "localize",
    "parameter_warnings",
]
