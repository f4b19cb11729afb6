"""OpenAPI post-processing: the one error envelope, documented on every operation."""

from __future__ import annotations

from typing import Any

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [
                        "validation_error",
                        "not_authenticated",
                        "permission_denied",
                        "not_found",
                        "rate_limited",
                        "conflict",
                        "provider_unavailable",
                        "internal_error",
                    ],
                },
                "message": {
                    "type": "string",
                    "description": "For people, in the language of Accept-Language.",
                },
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "For validation errors: the messages of each field, by field name.",
                },
            },
        }
    },
    "example": {
        "error": {
            "code": "validation_error",
            "message": "Some fields are not valid: inputs.",
            "details": {"inputs": {"topic": ["This field is required."]}},
        }
    },
}

ERRORS = {
    "400": "Invalid input, malformed JSON or an unknown field; details name each field.",
    "401": "No valid credentials (missing, expired or revoked).",
    "403": "Signed in, but not allowed (e.g. changing another user's template).",
    "404": "Not found, or not yours.",
    "405": "Method not allowed.",
    "409": "Conflict (e.g. the slug is taken, or the template has jobs).",
    "413": "The request body is too large.",
    "415": "The body is not JSON.",
    "429": "Rate limited: see Retry-After and X-RateLimit-*.",
    "503": "The provider is unavailable or not configured.",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorEnvelope"] = ERROR_ENVELOPE
    reference = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": reference}}},
                )
    return result
