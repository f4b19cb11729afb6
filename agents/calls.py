"""What an agent reaches over MCP, on the REST API's own road (the sync, Django half).

A personal token's caller sees as tools the templates it may run: the same
visibility and token limit as the API (``visible_to``, ``reachable_with``), each
tool's input schema the JSON Schema its parameter schema derives. A call is
validated by the very form class the browser form and ``POST templates/{slug}/generate``
use and submitted through ``jobs.services.submit_generation`` (cache, coalescing,
the model's price rules), so a tool call differs from a REST generate only in how
it is asked and answered.

Every function here runs in a worker thread of the MCP server's event loop and
hands its database connection back before returning: a call then waits on Redis,
holding none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework.exceptions import AuthenticationFailed

from accounts.authentication import PersonalTokenAuthentication
from accounts.models import PersonalToken, TokenScope, User
from jobs.models import Job
from jobs.services import SubmissionError, cancel_job, submit_generation
from promptlab import ratelimits
from promptlab.api import error_body
from promptlab.database import release_connection
from templates_app.forms import parameter_form_class
from templates_app.models import Template


@dataclass(frozen=True)
class Caller:
    """Who calls: a personal token's owner, and the language to answer in."""

    user: User
    token: PersonalToken
    language: str


@dataclass(frozen=True)
class Refusal:
    """An HTTP answer instead of the MCP exchange: no token, a bad one, or too many requests."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class ToolRefused(Exception):
    """A tool call that starts no job; ``body`` is the REST API's error envelope."""

    def __init__(self, message: str, *, code: str, details: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.body = error_body(code, message, details)


@contextmanager
def _connection_released() -> Iterator[None]:
    try:
        yield
    finally:
        release_connection()


def _request(headers: list[tuple[bytes, bytes]], client: tuple[str, int] | None) -> HttpRequest:
    request = HttpRequest()
    request.META = {
        "HTTP_" + name.decode("latin-1").upper().replace("-", "_"): value.decode("latin-1")
        for name, value in headers
    }
    request.META["REMOTE_ADDR"] = client[0] if client else ""
    return request


def authenticate(headers: list[tuple[bytes, bytes]], client: tuple[str, int] | None) -> Caller | Refusal:
    """The REST API's personal-token authentication and rate limits, for one MCP request."""
    request = _request(headers, client)
    language = translation.get_language_from_request(request)
    with translation.override(language), _connection_released():
        authentication = PersonalTokenAuthentication()
        challenge = {"WWW-Authenticate": authentication.authenticate_header(request)}
        try:
            found = authentication.authenticate(request)
        except AuthenticationFailed as exc:
            return Refusal(401, error_body("not_authenticated", str(exc.detail)), challenge)
        if found is None:
            message = _("Send a personal API token as “Authorization: Bearer pl_…” (the API tokens page).")
            return Refusal(401, error_body("not_authenticated", message), challenge)
        user, token = found
        limit = ratelimits.check_request(request, user, group="api")
        if limit.exceeded:
            wait = max(limit.reset, 1)
            message = ngettext(
                "Too many attempts. Try again in %(seconds)d second.",
                "Too many attempts. Try again in %(seconds)d seconds.",
                wait,
            ) % {"seconds": wait}
            return Refusal(429, error_body("rate_limited", message), ratelimits.add_headers({}, limit))
        return Caller(user=user, token=token, language=user.language or language)


def runnable_templates(caller: Caller) -> QuerySet[Template]:
    """The templates the caller's token may run: the API's rule, and published."""
    templates = Template.objects.visible_to(caller.user).reachable_with(caller.token).runnable()
    return templates.select_related("published_version").order_by("slug")


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]


def tool_specs(caller: Caller) -> list[ToolSpec]:
    """One tool per runnable template, named by its slug (stable: a slug never changes),
    described in the caller's language (English where the template has no translation)."""
    with translation.override(caller.language), _connection_released():
        return [
            ToolSpec(
                name=template.slug,
                title=template.localized_name(caller.language),
                description=template.localized_description(caller.language)
                or template.localized_name(caller.language),
                input_schema=template.published_version.schema.json_schema(),  # type: ignore[union-attr]
            )
            for template in runnable_templates(caller)
        ]


def start_call(caller: Caller, name: str, arguments: dict[str, Any]) -> Job:
    """Validate and submit a tool call; ToolRefused (naming the field) when it starts no job."""
    with translation.override(caller.language), _connection_released():
        if not caller.token.allows(TokenScope.RUN):
            raise ToolRefused(
                _("This API token is read only: it lists the tools but runs none."), code="permission_denied"
            )
        template = runnable_templates(caller).filter(slug=name).first()
        if template is None:
            raise ToolRefused(
                _("There is no tool named “%(name)s” for this token.") % {"name": name}, code="not_found"
            )
        version = template.published_version
        assert version is not None  # runnable
        version.template = template  # loaded already: spare submit_generation a query
        cleaned, errors = parameter_form_class(version, caller.language).validate_json(arguments)
        if cleaned is None:
            problems = "; ".join(
                f"{field}: {' '.join(map(str, messages))}" for field, messages in errors.items()
            )
            details = {field: [str(message) for message in messages] for field, messages in errors.items()}
            raise ToolRefused(
                _("The inputs are not valid. %(problems)s") % {"problems": problems},
                code="validation_error",
                details=details,
            )
        try:
            return submit_generation(version, cleaned, owner=caller.user)
        except SubmissionError as exc:
            code = "provider_unavailable" if exc.code == "provider_unavailable" else "validation_error"
            raise ToolRefused(str(exc), code=code, details={exc.field: [str(exc)]}) from None


def read_job(pk: Any) -> Job:
    with _connection_released():
        return Job.objects.select_related("template_version__template", "owner").get(pk=pk)


def cancel(pk: Any) -> None:
    """The agent gave up on the call: the job stops (keeping its text and tokens so far)."""
    with _connection_released():
        job = Job.objects.filter(pk=pk).first()
        if job is not None:
            cancel_job(job)
