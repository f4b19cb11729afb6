"""A version's theme as served: its stylesheet, and the logos themes name by digest."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods

from .access import visible_version_or_404
from .models import ThemeLogo
from .theme import LOGO_DIGEST

A_YEAR = 365 * 24 * 3600


@require_http_methods(["GET", "HEAD"])
def theme_css(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """A version's theme as a stylesheet: a URL of its own keeps ``style-src 'self'``."""
    version = visible_version_or_404(request, slug, number)
    theme = version.parsed_theme
    if theme is None:
        raise Http404
    response = HttpResponse(theme.stylesheet(), content_type="text/css; charset=utf-8")
    # A version never changes, and the page links the stylesheet by its digest.
    public = version.template.visibility == "public"
    patch_cache_control(
        response, max_age=A_YEAR, immutable=True, **({"public": True} if public else {"private": True})
    )
    return response


@require_http_methods(["GET", "HEAD"])
def theme_logo(request: HttpRequest, digest: str) -> HttpResponse:
    """A logo by the SHA-256 of its bytes: the address is the content, so it caches forever."""
    if not LOGO_DIGEST.fullmatch(digest):
        raise Http404  # not a digest (PostgreSQL refuses some strings, a NUL byte, outright)
    logo = get_object_or_404(ThemeLogo, digest=digest)
    response = HttpResponse(bytes(logo.data), content_type=logo.content_type)
    patch_cache_control(response, public=True, max_age=A_YEAR, immutable=True)
    response["Content-Disposition"] = "inline"
    return response
