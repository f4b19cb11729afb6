"""What every API endpoint shares: the error envelope, rate limits, pagination."""

from __future__ import annotations

import codecs
import copy
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.utils.json import strict_constant

from . import logs, ratelimits
from .safe_load import MAX_NESTING, TooDeeplyNested, load_json

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


@dataclass(frozen=True)
class ErrorStatus:
    """An HTTP status an API error may have: the envelope code DRF's errors of that status
    carry, the codes only PromptLab's own handlers send with it, and what the OpenAPI
    document says of it (``None``: not documented, the document promises no server error)."""

    code: str
    description: str | None
    other_codes: tuple[str, ...] = ()


# The codes of workspaces.services.WorkspaceError that answer 409 (its `permission_denied`
# is a 403): written here, below the apps, so that the document lists them.
WORKSPACE_CONFLICT_CODES = (
    "workspace_not_empty",
    "personal_workspace",
    "owner_role",
    "use_transfer",
    "not_a_member",
)

# The one home of the error codes: by status, the code of an error DRF answers, and the
# description every operation's response of that status has in the OpenAPI document.
# Jobs have codes of their own (``jobs.errors``), in the job, not in an envelope.
ERROR_STATUSES: dict[int, ErrorStatus] = {
    400: ErrorStatus(
        "validation_error", "Invalid input, malformed JSON or an unknown field; details name each field."
    ),
    401: ErrorStatus("not_authenticated", "No valid credentials (missing, expired or revoked)."),
    # A workspace budget refused a run before anything was spent (budgets.services). 402, not
    # 429: 429 is the rate limit's, which clients (and PromptLab's own provider retries) retry
    # after a short wait; a monthly budget does not come back in seconds, and retrying spends
    # requests for nothing. Documented on the operations that run a model only.
    402: ErrorStatus("budget_exhausted", None, other_codes=("budget_unpriced_model",)),
    403: ErrorStatus(
        "permission_denied",
        "Signed in, but not allowed (e.g. changing another user's template).",
        other_codes=("invitation_for_another_address",),  # workspaces.api.invitations
    ),
    404: ErrorStatus("not_found", "Not found, or not yours."),
    405: ErrorStatus("validation_error", "Method not allowed."),
    406: ErrorStatus("validation_error", "The Accept header names no type the API answers in."),
    409: ErrorStatus(
        "conflict",
        "Conflict (e.g. the slug is taken, or the template has jobs); a workspace's refusals say why "
        "in their code (e.g. `workspace_not_empty`, `owner_role`).",
        other_codes=(*WORKSPACE_CONFLICT_CODES, "invitation_used"),  # workspaces.api
    ),
    # Only an invitation's link answers it (documented on those operations alone).
    410: ErrorStatus("invitation_expired", None, other_codes=("invitation_revoked", "invitation_declined")),
    # Sent by the ASGI entry point, before Django (promptlab.asgi).
    411: ErrorStatus("validation_error", "The body was sent chunked, without a Content-Length header."),
    413: ErrorStatus("validation_error", "The request body is too large."),
    415: ErrorStatus("validation_error", "The body is not JSON."),
    429: ErrorStatus("rate_limited", "Rate limited: see Retry-After and X-RateLimit-*."),
    500: ErrorStatus("internal_error", None),
    503: ErrorStatus(
        "provider_unavailable",
        "The provider is unavailable or not configured (`provider_unavailable`), or a service "
        "PromptLab depends on is briefly down (`service_unavailable`: retry after Retry-After).",
        other_codes=("service_unavailable",),  # promptlab.outages
    ),
}

# Every code an error envelope may carry (the OpenAPI document's enum), each once.
ERROR_CODES = tuple(
    dict.fromkeys(code for entry in ERROR_STATUSES.values() for code in (entry.code, *entry.other_codes))
)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = ERROR_STATUSES[status_code].code


class ProviderUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The provider is unavailable."
    default_code = ERROR_STATUSES[status_code].code


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The envelope, naming the request it answers (its X-Request-ID, for a report or the logs)."""
    if code not in ERROR_CODES:  # a new code goes in ERROR_CODES first, so the document lists it
        raise ValueError(f"Not an API error code: {code!r}.")
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details or {},
            "request_id": logs.request_id.get(),
        }
    }


def _flatten(detail: Any) -> Any:
    """DRF's ErrorDetail lists → plain strings, keyed by field."""
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error in one envelope: {"error": {"code", "message", "details", "request_id"}}."""
    # Imported here: rest_framework.views reads the throttle setting, which names this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's handler500 answers in the envelope
    # A status the table lacks is a client error of some kind: DRF answers no other. An
    # exception may name one of its status's other codes (``envelope_code``).
    entry = ERROR_STATUSES.get(response.status_code, ERROR_STATUSES[400])
    code = getattr(exc, "envelope_code", None)
    if code not in entry.other_codes:
        code = entry.code
    if isinstance(exc, exceptions.ValidationError):
        details = _flatten(exc.detail)
        if isinstance(details, list):
            details = {"non_field_errors": details}
        message = _("Some fields are not valid: %(fields)s.") % {"fields": ", ".join(details)}
    else:
        details = {}
        detail = _flatten(exc.detail) if hasattr(exc, "detail") else str(exc)
        if isinstance(detail, dict):
            # simplejwt's InvalidToken: {"detail", "code", "messages": [{…, "message"}]}.
            reasons = [item["message"] for item in detail.get("messages", []) if isinstance(item, dict)]
            if reasons:
                details = {"token": reasons}
            detail = detail.get("detail") or "; ".join(reasons) or exceptions.NotAuthenticated.default_detail
        message = str(detail)
    response.data = error_body(code, message, details)
    return response


def json_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)  # type: ignore[arg-type]


@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any /api/ path no route matches: a JSON 404 as a view, not an exception, so that
    DEBUG's HTML 404 page never answers an API client."""
    return JsonResponse(error_body("not_found", _("Not found.")), status=404)


def json_500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body("internal_error", _("Something went wrong on our side.")), status=500)
    from django.views.defaults import server_error

    return server_error(request)


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


# Where a batch's file is uploaded: the site's form and the API's multipart POST.
BATCH_UPLOAD_PATH = re.compile(r"^(/api/v1/templates/[-a-zA-Z0-9_]+/batches|/t/[-a-zA-Z0-9_]+/batch/)$")


class RequestLimitsMiddleware:
    """The request limits, for the API and the site alike: refuse an oversized body with
    413 before anything reads it (a larger limit for the site), and add the rate-limit
    headers of the limit the request was counted against (``ratelimits.note_limit``):
    the one place any response gets them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = request.path.startswith(API_PREFIX)
        # The site's forms (uploads included) have a larger limit than the API's JSON.
        limit = settings.API_MAX_BODY_BYTES if api else settings.SITE_MAX_BODY_BYTES
        if BATCH_UPLOAD_PATH.match(request.path) and request.content_type == "multipart/form-data":
            # A batch's file, which Django's upload handlers stream to a temporary file:
            # bounded here by the largest plan's limit, and by the user's plan as it is read.
            # Only a file: a JSON body is parsed whole in memory, so it keeps the API's limit.
            limit = max(settings.BATCH_MAX_FILE_BYTES.values()) + settings.SITE_MAX_BODY_BYTES
        if _content_length(request) > limit:
            if api:
                return JsonResponse(
                    error_body(
                        "validation_error",
                        _("The request body is too large (at most %(limit)d bytes).") % {"limit": limit},
                    ),
                    status=413,
                )
            # Checked before Django parses (and spools) the body.
            return HttpResponse(
                _("The request is too large (at most %(limit)d bytes).") % {"limit": limit},
                status=413,
                content_type="text/plain; charset=utf-8",
            )
        response = self.get_response(request)
        return ratelimits.add_headers(response, getattr(request, "rate_limit", None))


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, bounded: a body nested thousands deep raised RecursionError (a
    500) in ``json``; here it is a 400, as is any nesting past ``MAX_NESTING``."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            return load_json(text, parse_constant=strict_constant if self.strict else None)
        except TooDeeplyNested:
            raise exceptions.ParseError(
                _("The JSON body is nested too deeply (at most %(max)d levels).") % {"max": MAX_NESTING}
            ) from None
        except ValueError as exc:
            raise exceptions.ParseError(_("JSON parse error: %(problem)s.") % {"problem": exc}) from None


class PlanRateThrottle(BaseThrottle):
    """Per user by plan tier (per minute and per hour), per IP when anonymous."""

    def allow_request(self, request: Any, view: Any) -> bool:
        limit = ratelimits.check_request(request._request, request.user, group="api")
        ratelimits.note_limit(request, limit)
        self._wait = limit.reset
        return not limit.exceeded

    def wait(self) -> float | None:
        return max(self._wait, 1)


class AuthAttemptThrottle(BaseThrottle):
    """Registration's limits: every attempt, per IP and per address named. (The sign-in
    doors count failures instead: ``ratelimits.SignInAttempt``.)"""

    def allow_request(self, request: Any, view: Any) -> bool:
        account = request.data.get("email") if hasattr(request.data, "get") else None
        limit = ratelimits.check_auth_attempt(request._request, account if isinstance(account, str) else None)
        ratelimits.note_limit(request, limit)
        self._wait = limit.reset
        return not limit.exceeded

    def wait(self) -> float | None:
        return max(self._wait, 1)


class NewestFirstCursorPagination(pagination.CursorPagination):
    """DRF's cursor pagination, but a ``page_size`` that is not a whole number from 1 to
    100 is a 400 (DRF silently used the default for ``null`` or ``abc``, and 100 for 500),
    as the OpenAPI document says."""

    ordering = "-created_at"
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Any) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= self.max_page_size:
            raise serializers.ValidationError(
                {
                    self.page_size_query_param: [
                        _("Enter a whole number from 1 to %(max)d.") % {"max": self.max_page_size}
                    ]
                }
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
        return parameters


class StrictFieldsMixin:
    """Unknown fields in a request body are an error, not silently dropped; and a text
    field takes a JSON string, not a number DRF would turn into one ("password": 12345678),
    no longer than its maxLength as sent: what the OpenAPI document says of them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            fields = self.fields  # type: ignore[attr-defined]
            known = {name for name, field in fields.items() if not field.read_only}
            errors = {name: [_("Unknown field.")] for name in sorted(set(data) - known)}
            for name, field in fields.items():
                value = data.get(name)
                if not isinstance(field, serializers.CharField) or value is None:
                    continue
                if not isinstance(value, str):
                    errors[name] = [str(field.error_messages["invalid"])]
                elif field.max_length is not None and len(value) > field.max_length:
                    # Counted as sent: DRF strips white space first, so 101 characters
                    # that start with a tab passed a documented maxLength of 100.
                    message = str(field.error_messages["max_length"]).format(max_length=field.max_length)
                    errors[name] = [message]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


class FieldsBuiltOnceMixin:
    """A ModelSerializer whose fields are built from the model once per class, not per instance.

    DRF introspects the model for every serializer instance, which was most of the cost
    of serialising a job (about 0.4 ms of 0.5 for a stream's status event). Each
    instance gets fresh copies, as DRF does for declared fields.
    """

    _built_fields: dict[str, Any] | None = None

    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        if cls.__dict__.get("_built_fields") is None:  # each subclass builds its own
            cls._built_fields = super().get_fields()  # type: ignore[misc]
        return copy.deepcopy(cls._built_fields)


class SelectableFieldsMixin:
    """``?fields=id,status`` returns only those fields; without it, all but ``default_omitted``."""

    default_omitted: tuple[str, ...] = ()

    @classmethod
    def selected_fields(cls, request: Any, available: Iterable[str]) -> list[str]:
        wanted = request.query_params.get("fields") if request is not None else None
        if wanted:
            keep = {name.strip() for name in wanted.split(",") if name.strip()}
            return [name for name in available if name in keep]
        return [name for name in available if name not in cls.default_omitted]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")  # type: ignore[attr-defined]
        if request is None or getattr(self.context.get("view"), "swagger_fake_view", False):  # type: ignore[attr-defined]
            return  # described (drf-spectacular), not rendered: every field
        keep = set(self.selected_fields(request, list(self.fields)))  # type: ignore[attr-defined]
        for name in list(self.fields):  # type: ignore[attr-defined]
            if name not in keep:
                self.fields.pop(name)  # type: ignore[attr-defined]
