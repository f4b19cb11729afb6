"""The API's account of a workflow's steps: the field and its JSON Schema in the OpenAPI
document (``templates_app.steps`` checks the graph itself, each error naming its step)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..model_choices import MODEL_MAX_LENGTH, PROVIDER_MAX_LENGTH

STEP_NAME_PATTERN = "^[a-z][a-z0-9_]{0,39}$"
# The document's account of a step (templates_app.steps checks them, and its errors name the step).
STEP_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "body"],
    "properties": {
        "name": {"type": "string", "pattern": STEP_NAME_PATTERN, "example": "outline"},
        "kind": {
            "type": "string",
            "enum": ["prompt", "transform"],
            "default": "prompt",
            "description": "prompt: a model call; transform: a Jinja expression, no model call.",
        },
        "body": {
            "type": "string",
            "description": "The prompt (Jinja); for a transform, the Jinja expression giving its value.",
        },
        "system_prompt": {"type": "string", "default": ""},
        "model_settings": {
            "type": "object",
            "description": "provider, model, temperature, max_tokens; `{}` takes the template's.",
            "properties": {
                "provider": {"type": "string", "maxLength": PROVIDER_MAX_LENGTH},
                "model": {"type": "string", "maxLength": MODEL_MAX_LENGTH},
                "temperature": {"type": ["number", "string"]},
                "max_tokens": {"type": "integer", "minimum": 1},
            },
        },
        "needs": {
            "type": "array",
            "items": {"type": "string", "pattern": STEP_NAME_PATTERN},
            "default": [],
            "description": "The steps it waits for; steps that don't need each other run in parallel.",
        },
        "when": {
            "type": "string",
            "default": "",
            "description": "A Jinja condition; false skips the step (and the steps that need only it).",
        },
        "for_each": {
            "type": "string",
            "default": "",
            "description": "A Jinja expression giving a list: one run per item (`item`, `item_index`).",
        },
        "parallel": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": 50,
            "description": "With for_each: how many items run at once (default 4).",
        },
        "output": {"type": "string", "enum": ["text", "json"], "default": "text"},
        "schema": {
            "type": ["object", "null"],
            "description": "With output json: the JSON Schema (Draft 2020-12) the answer must match.",
        },
    },
}


@extend_schema_field(
    {
        "type": "array",
        "items": STEP_SCHEMA,
        "description": (
            "A workflow's steps, in the shape of the editor's YAML (`[]`: a single prompt, the body). "
            "Returned with every key filled in. An error names its step."
        ),
    }
)
class StepsField(serializers.JSONField):
    """A workflow's steps: a list of step objects (the graph itself is checked in ``validate``)."""

    def to_internal_value(self, data: Any) -> list[Any]:
        data = super().to_internal_value(data)
        if not isinstance(data, list) or not all(isinstance(step, dict) for step in data):
            raise serializers.ValidationError(_("The steps must be a list of steps (objects)."))
        return data
