"""A service PromptLab depends on is down: answer 503 with a clear message, not 500.

Most of the site keeps working without Redis (rate limits on requests and the
principal cache fail open, publishing is best effort, a job whose message can't
be sent waits in the database for the sweep); what cannot (a sign-in whose
attempt counter is in Redis, a token revocation that must leave its tombstone)
ends here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from .api import API_PREFIX, error_body
from .cache import CacheUnavailable

logger = logging.getLogger(__name__)

OUTAGE_ERRORS = (CacheUnavailable, redis.ConnectionError, redis.TimeoutError)
RETRY_AFTER_SECONDS = 5


class AnswerOutagesWith503:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OUTAGE_ERRORS):
            return None
        logger.warning("%s %s answered 503, Redis unavailable: %s", request.method, request.path, exception)
        return outage_response(request)


def outage_response(request: HttpRequest) -> HttpResponse:
    """The translated 503 (in the API's error envelope under /api/), with Retry-After."""
    message = _(
        "PromptLab is briefly unavailable: one of its services is not answering. Try again in a moment."
    )
    response: HttpResponse
    if request.path.startswith(API_PREFIX):
        response = JsonResponse(error_body("service_unavailable", message), status=503)
    else:
        response = render(request, "503.html", {"message": message}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
