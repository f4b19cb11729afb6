"""OpenAPI post-processing: the one error envelope, documented on every operation, and
examples for every path parameter and request body.

The examples name real things: ``meeting-summary`` is a demo template every install
has (``seed_demo``), so "Try it out" works as shown; the contract test creates the job
and template they name, so schemathesis's examples phase exercises each operation on
objects that exist, as their owner.
"""

from __future__ import annotations

from typing import Any

from .api import ERROR_CODES, ERROR_STATUSES, StrictFieldsMixin

# A slug as JSON Schema (ECMA-262) writes it: Django's slug_re ends in \Z, which it lacks.
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details", "request_id"],
            "properties": {
                "code": {"type": "string", "enum": list(ERROR_CODES)},
                "message": {
                    "type": "string",
                    "description": "For people, in the language of Accept-Language.",
                },
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "For validation errors: the messages of each field, by field name.",
                },
                "request_id": {
                    "type": "string",
                    "nullable": True,
                    "description": "The request's id, as in the X-Request-ID response header (and the logs).",
                },
            },
        }
    },
    "example": {
        "error": {
            "code": "validation_error",
            "message": "Some fields are not valid: inputs.",
            "details": {"inputs": {"topic": ["This field is required."]}},
            "request_id": "7f3c9b2e4d5a4b8f9e0a1c2d3e4f5a6b",
        }
    },
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["ErrorEnvelope"] = ERROR_ENVELOPE
    reference = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, entry in ERROR_STATUSES.items():
                if entry.description is None:
                    continue
                responses.setdefault(
                    str(status),
                    {
                        "description": entry.description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result


EXAMPLE_SLUG = "meeting-summary"
EXAMPLE_JOB_ID = "7d5e7a52-3c1b-4f0e-9a0d-5b7c2e8f1a64"
EXAMPLE_BATCH_ID = "b47c2e1a-5d3f-4a8e-9c6b-2f1e0d9a8c7b"
# Paths whose {id} is a UUID (the others' ids are integers).
UUID_ID_PREFIXES = ("/api/v1/jobs/", "/api/v1/batches/")
EXAMPLE_TOKEN_ID = 1
EXAMPLE_WORKSPACE_SLUG = "writers"
# A membership's id far above any the sequence reaches in a test run, so that the row the
# contract test makes with it never meets one made by the run itself.
EXAMPLE_MEMBER_ID = 1_000_000

REQUEST_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("put", "/api/v1/workspaces/{slug}/budgets"): {
        "workspace": {
            "token_limit": 2000000,
            "cost_limit": "50.00",
            "soft_percent": 80,
            "allow_unpriced_models": False,
        },
        "members": [
            {"member": "ana@example.com", "token_limit": 200000, "cost_limit": None, "soft_percent": 80}
        ],
    },
    ("post", "/api/v1/auth/register"): {"email": "ana@example.com"},
    ("post", "/api/v1/auth/token"): {"email": "ana@example.com", "password": "a long passphrase 42"},
    ("post", "/api/v1/auth/token/refresh"): {"refresh": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…"},
    ("post", "/api/v1/auth/tokens"): {"name": "nightly report", "expires_at": "2027-01-31T23:59:59Z"},
    ("post", "/api/v1/templates"): {
        "slug": "haiku",
        "name": "Haiku",
        "description": "Three lines about a topic.",
        "visibility": "private",
        "system_prompt": "You write haiku.",
        "body": "Write a haiku about {{ topic }}.",
        "parameters": [{"name": "topic", "type": "string", "label": "Topic", "max_length": 50}],
        "model_settings": {
            "provider": "offline",
            "model": "offline-echo",
            "temperature": "0.70",
            "max_tokens": 256,
            "allowed_models": ["anthropic/claude-sonnet-4-5"],
        },
        "theme": {
            "primary": "#0b5394",
            "primary_text": "#ffffff",
            "background": "#fffdf5",
            "text": "#222222",
        },
    },
    ("post", "/api/v1/templates/import"): {
        "format": "promptlab",
        "content": (
            "---\nslug: standup\nname: Stand-up\nparameters:\n"
            "  - {name: notes, type: text, label: Notes}\n---\nSummarise: {{ notes }}\n"
        ),
    },
    ("patch", "/api/v1/templates/{slug}"): {"description": "Notes in, a short summary out."},
    ("post", "/api/v1/templates/{slug}/versions/{number}/review"): {
        "action": "comment",
        "comment": "Say which meeting the notes are from.",
    },
    ("post", "/api/v1/webhooks"): {
        "url": "https://hooks.example/promptlab",
        "description": "Nightly report",
        "events": ["job.succeeded", "job.failed"],
    },
    ("patch", "/api/v1/webhooks/{id}"): {"events": ["job.failed"], "is_active": True},
    ("post", "/api/v1/workspaces"): {"name": "Writers' room", "slug": "writers-room"},
    ("patch", "/api/v1/workspaces/{slug}"): {"name": "Writers", "members_see_all_jobs": True},
    ("patch", "/api/v1/workspaces/{slug}/members/{id}"): {"role": "editor"},
    ("post", "/api/v1/workspaces/{slug}/transfer"): {"member": EXAMPLE_MEMBER_ID},
    ("post", "/api/v1/templates/{slug}/generate"): {
        "inputs": {"notes": "Ana: ship on Friday. Bruno: write the tests first.", "max_bullets": 3}
    },
    ("post", "/api/v1/workspaces/{slug}/invitations"): {"email": "bruno@example.com", "role": "editor"},
    ("post", "/api/v1/invitations/accept"): {"token": "hS3x7l0pQyF2mZk8c1WvN4bD9rT6eJ5aG0uXo2iLs_Y"},
    ("post", "/api/v1/invitations/decline"): {"token": "hS3x7l0pQyF2mZk8c1WvN4bD9rT6eJ5aG0uXo2iLs_Y"},
    ("post", "/api/v1/templates/{slug}/batches"): {
        "rows": [
            {"notes": "Ana: ship on Friday. Bruno: write the tests first.", "max_bullets": 3},
            {"notes": "Carla: the demo moves to Tuesday.", "max_bullets": 2},
        ],
        "concurrency": 2,
    },
}


def _path_example(path: str, name: str) -> Any:
    if path.startswith("/api/v1/workspaces/"):
        return {"slug": EXAMPLE_WORKSPACE_SLUG, "id": EXAMPLE_MEMBER_ID}.get(name)
    if name == "slug":
        return EXAMPLE_SLUG
    if name == "id":
        if path.startswith("/api/v1/batches/"):
            return EXAMPLE_BATCH_ID
        return EXAMPLE_JOB_ID if path.startswith("/api/v1/jobs/") else EXAMPLE_TOKEN_ID
    if name == "endpoint_id":
        return EXAMPLE_TOKEN_ID
    if name == "number":  # a template's version
        return 1
    return None


# Components whose objects hold only the fields ``?fields=`` selects: none is required.
SELECTABLE_COMPONENTS = ("JobListItem",)


def add_examples(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    for path, path_item in result.get("paths", {}).items():
        for method, operation in path_item.items():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    if parameter["name"] == "id":  # the viewsets' querysets need a user to say
                        uuid = path.startswith(UUID_ID_PREFIXES)
                        parameter["schema"] = (
                            {"type": "string", "format": "uuid"} if uuid else {"type": "integer"}
                        )
                    example = _path_example(path, parameter["name"])
                    if example is not None:
                        parameter.setdefault("example", example)
            body = REQUEST_EXAMPLES.get((method, path))
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and content is not None:
                content.setdefault("example", body)
    for name in SELECTABLE_COMPONENTS:
        component = result.get("components", {}).get("schemas", {}).get(name)
        if component is not None:
            component.pop("required", None)
    return result


def describe_request_rules(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """What the serializers enforce that drf-spectacular does not write down: request bodies
    of the strict serializers refuse unknown fields (``StrictFieldsMixin``), an import takes
    a file or its content (and content says its format), a member's PATCH names the role,
    and slugs in paths are slugs."""
    strict = {cls.__name__.removesuffix("Serializer") for cls in _subclasses(StrictFieldsMixin)}
    schemas = result.get("components", {}).get("schemas", {})
    for name, component in schemas.items():
        if name.endswith("Request") and name.removeprefix("Patched").removesuffix("Request") in strict:
            component["additionalProperties"] = False
    if "PatchedMemberRequest" in schemas:  # a member's PATCH changes the role: it must name one
        schemas["PatchedMemberRequest"]["required"] = ["role"]
    if "TemplateImportRequest" in schemas:
        schemas["TemplateImportRequest"]["anyOf"] = [
            {"required": ["file"], "not": {"required": ["content"]}},
            {"required": ["content", "format"], "not": {"required": ["file"]}},
            {"required": ["content", "filename"], "not": {"required": ["file"]}},
        ]
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter["name"] == "slug":
                    parameter["schema"] = {"type": "string", "pattern": SLUG_PATTERN}
            # A body whose component requires a field (made so above) is itself required.
            body = operation.get("requestBody")
            reference = (body or {}).get("content", {}).get("application/json", {}).get("schema", {})
            name = reference.get("$ref", "").rpartition("/")[2]
            if body is not None and schemas.get(name, {}).get("required"):
                body["required"] = True
    return result


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found)) if found else found


def add_conditional_reads(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Every JSON read carries an ETag and answers If-None-Match (ConditionalGetMiddleware)."""
    for path_item in result.get("paths", {}).values():
        operation = path_item.get("get")
        ok = (operation or {}).get("responses", {}).get("200", {})
        if "application/json" not in ok.get("content", {}):
            continue  # the event streams: nothing to revalidate
        operation.setdefault("parameters", []).append(
            {
                "in": "header",
                "name": "If-None-Match",
                "required": False,
                "schema": {"type": "string"},
                "description": "The ETag of a copy you hold: 304 with no body while it is current.",
            }
        )
        ok.setdefault("headers", {})["ETag"] = {
            "schema": {"type": "string"},
            "description": "This representation's version, for If-None-Match.",
        }
        operation["responses"]["304"] = {
            "description": "Not modified: the copy named by If-None-Match is current."
        }
    return result


def add_request_id_header(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Every answer carries X-Request-ID (promptlab.logs), the same as an error's ``request_id``."""
    header = {
        "schema": {"type": "string"},
        "description": "This request's id: the client's own X-Request-ID if it sent a sane one, else new.",
    }
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for response in operation.get("responses", {}).values():
                response.setdefault("headers", {})["X-Request-ID"] = header
    return result
