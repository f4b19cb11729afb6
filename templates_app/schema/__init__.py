"""The parameter schema: the one source of truth for a template's inputs.

A schema is a list of parameters such as
``{"name": "tone", "type": "choice", "label": {"en": "Tone", "pt": "Tom"},
"choices": ["formal", "casual"], "default": "formal"}`` (the dialect is in
docs/schema.md). ``parsing`` checks it (every authoring error names the
parameter); ``parameters`` holds the parsed form; ``types`` has one class per
parameter type, which derives from each parameter alone the Django form field
with its HTML constraint attributes, the JSON Schema, a file format's property
and a sample value; ``fields`` has the few form fields Django lacks. Nothing
else restates a constraint.
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
