"""A signed-in person's language preference (``User.language``), applied to every page.

Django's ``LocaleMiddleware`` picks the language from the language cookie, else the
browser's ``Accept-Language``; the header's switcher sets that cookie. The preference
works through the same cookie, so one rule decides every page: signing in and saving
the account page set the cookie to the preference, and ``PreferredLanguageMiddleware``
sets it for a signed-in browser that has none (a new browser, or a cookie that ended
with the browser session). Until the next sign-in, the header's switcher still changes
the language of this browser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation


def apply_language(request: HttpRequest, response: HttpResponse, language: str) -> HttpResponse:
    """Make ``language`` this browser's language from the next page on (empty: the
    browser's own choice again)."""
    if not language:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH)
        return response
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


class PreferredLanguageMiddleware:
    """For a signed-in browser without a language cookie: the account's preference, on
    this page and (through the cookie) the next. After AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        preferred = self._preference(request)
        if preferred:
            translation.activate(preferred)
            request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        if preferred:
            apply_language(request, response, preferred)
        return response

    @staticmethod
    def _preference(request: HttpRequest) -> str:
        # Only a browser with a session can be signed in: API calls with a token (no
        # session cookie) cost nothing here.
        if (
            settings.LANGUAGE_COOKIE_NAME in request.COOKIES
            or settings.SESSION_COOKIE_NAME not in request.COOKIES
        ):
            return ""
        user: Any = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return ""
        language = getattr(user, "language", "")
        return language if language in dict(settings.LANGUAGES) else ""
