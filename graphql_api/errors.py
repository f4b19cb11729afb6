"""GraphQL errors that clients may read: a message in the request's language and
``extensions`` with the same ``code`` as the REST API's error envelope (and, for bad
input, the field and its messages)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from graphql import GraphQLError

from promptlab.api import ERROR_CODES


class PublicError(GraphQLError):
    """An error whose message is meant for the client (anything else is masked)."""

    def __init__(self, message: str, code: str, **extensions: Any) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"Not an API error code: {code!r}.")
        super().__init__(message, extensions={"code": code, **extensions})


def not_found() -> PublicError:
    return PublicError(_("Not found."), "not_found")


def invalid(details: dict[str, list[str]], prefix: str = "") -> PublicError:
    """Bad input, as the REST API's 400: each field with its messages, the first named
    in ``field`` (``inputs.topic`` for a template input)."""
    fields = [f"{prefix}{name}" for name in details]
    return PublicError(
        _("Some fields are not valid: %(fields)s.") % {"fields": ", ".join(fields)},
        "validation_error",
        field=fields[0] if fields else None,
        details={f"{prefix}{name}": [str(m) for m in messages] for name, messages in details.items()},
    )


def from_drf(detail: Any) -> PublicError:
    """A DRF ValidationError's detail (a filter's, a page size's) as ``invalid``."""
    if isinstance(detail, dict):
        return invalid(
            {name: list(value) if isinstance(value, list) else [value] for name, value in detail.items()}
        )
    return invalid({"non_field_errors": list(detail) if isinstance(detail, list) else [detail]})
