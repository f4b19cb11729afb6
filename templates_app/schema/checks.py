"""Checks that need more than the schema: a body that leaves parameters unused."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.utils.translation import gettext as _

from .parameters import ParameterSchema, SchemaError


def parameter_warnings(parameters: Any, *sources: str, also_read: Collection[str] = ()) -> list[str]:
    """Warnings (not errors) about a schema and the prompt texts that use it: each
    parameter that none of ``sources`` (body, system prompt) ever reads and that is not
    in ``also_read`` (what a workflow's steps read: ``StepGraph.parameters_read``).

    A plain function, so the editor, the admin and the API can show the same list;
    a schema or body that does not parse gives no warnings (its errors say why).
    """
    from templates_app.rendering import PromptRenderError, referenced_names

    try:
        schema = parameters if isinstance(parameters, ParameterSchema) else ParameterSchema.parse(parameters)
        used: set[str] = set(also_read)
        for source in sources:
            used |= referenced_names(source or "")
    except (SchemaError, PromptRenderError):
        return []
    return [
        _("Parameter “%(name)s”: the prompt never uses it.") % {"name": parameter.name}
        for parameter in schema.parameters
        if parameter.name not in used
    ]
