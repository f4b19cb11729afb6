"""/graphql: GraphiQL for a browser's GET, the GraphQL endpoint for POST.

A POST is let in as the REST API lets a request in, by the same classes: DRF's
authenticators from the REST settings (personal token, JWT, session; a session caller
must send the CSRF token, as DRF's SessionAuthentication demands) and the plan's rate
limit (``PlanRateThrottle``, counting in the REST API's window). Only then is the
caller's schema picked (``schema.schema_for``) and the query run by strawberry.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from rest_framework import exceptions
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.settings import api_settings
from strawberry.django.views import GraphQLView

from accounts.models import PersonalToken
from promptlab.api import PlanRateThrottle, exception_handler

from .schema import schema_for

DEFAULT_QUERY = "# %(hint)s\n{\n  me {\n    email\n  }\n  templates {\n    slug\n    localizedName\n  }\n}\n"


def _refusal(exc: exceptions.APIException) -> HttpResponse:
    """A request refused before any query ran, in GraphQL's error shape with the REST
    envelope's code, message and status (401, 403, 405, 429)."""
    answer = exception_handler(exc, {})
    error = answer.data["error"] if answer is not None else {"code": "internal_error", "message": str(exc)}
    response = JsonResponse(
        {"errors": [{"message": error["message"], "extensions": {"code": error["code"]}}]},
        status=answer.status_code if answer is not None else 500,
    )
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if answer is not None and header in answer:
            response[header] = answer[header]
    return response


class _BodyLeftForStrawberry(BaseParser):
    """DRF's CSRF check for a session reads ``request.POST``, which makes DRF parse the body:
    this parser takes any type and reads nothing, leaving the body to strawberry."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> dict[str, Any]:
        return {}


def _caller(request: HttpRequest) -> Any:
    """The authenticated caller, counted against their rate limit; an APIException otherwise."""
    drf_request = Request(
        request,
        parsers=[_BodyLeftForStrawberry()],
        authenticators=[cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES],
    )
    user = drf_request.user  # raises for a bad token, or a session POST without its CSRF token
    if not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    # The GraphQL schema is built per user, not per token: a limited token would reach past
    # its limits here, so only an unlimited one (or a JWT, or a session) is taken.
    if isinstance(drf_request.auth, PersonalToken) and drf_request.auth.is_limited:
        raise exceptions.PermissionDenied(
            _(
                "GraphQL takes only API tokens without limits (every template, every workspace, "
                "every operation); use the REST API with this one."
            )
        )
    throttle = PlanRateThrottle()
    if not throttle.allow_request(drf_request, None):
        raise exceptions.Throttled(throttle.wait())
    return user


@csrf_exempt  # token callers have no CSRF token; session callers are checked by DRF's SessionAuthentication
def graphql_endpoint(request: HttpRequest) -> HttpResponse:
    if request.method in ("GET", "HEAD"):
        return graphiql(request)
    if request.method != "POST":
        return _refusal(exceptions.MethodNotAllowed(request.method or ""))
    try:
        user = _caller(request)
    except exceptions.APIException as exc:
        return _refusal(exc)
    view = GraphQLView.as_view(schema=schema_for(user), graphql_ide=None, allow_queries_via_get=False)
    return view(request)


@ensure_csrf_cookie
def graphiql(request: HttpRequest) -> HttpResponse:
    """GraphiQL, from our own static files, under the site's CSP."""
    return render(
        request,
        "graphql_api/graphiql.html",
        {"default_query": DEFAULT_QUERY % {"hint": _("Run this query with the ▶ button or Ctrl+Enter.")}},
    )
