from __future__ import annotations

import secrets
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from jobs.services import SubmissionError, provider_is_available, submit_generation
from jobs.visitors import visitor_session_key
from promptlab import ratelimits

from .forms import TemplateImportForm, parameter_fields_html, parameter_form_class
from .models import Template, Visibility


def home(request: HttpRequest) -> HttpResponse:
    templates = (
        Template.objects.visible_to(request.user)
        .runnable()
        .select_related("published_version")
        .order_by("name")
    )
    return render(request, "templates_app/home.html", {"templates": templates})


# The empty form page an anonymous visitor gets, rendered once per process and key.
# Each response gets its own CSRF token in place of this marker.
_CSRF_MARKER = f"csrf-{secrets.token_hex(16)}"
_PAGES: dict[tuple[Any, ...], str] = {}
_PAGES_MAX = 512
_VERSION_PROVIDERS: dict[int, str] = {}


def _template_sql(sql: str) -> str:
    """Fill a query on the template table with its quoted table and column names."""
    quote = connection.ops.quote_name
    fields = {"version": "published_version", "updated": "updated_at", "owner": "owner", "slug": "slug",
              "visibility": "visibility"}  # fmt: skip
    columns = {key: quote(Template._meta.get_field(name).column) for key, name in fields.items()}
    return sql.format(table=quote(Template._meta.db_table), **columns)


_PUBLISHED_SQL = _template_sql(
    "SELECT {version}, {updated} FROM {table} "
    "WHERE {slug} = %s AND {visibility} = %s AND {version} IS NOT NULL"
)


# The same page for a signed-in visitor: one copy per (version, language, path, ...,
# whether they manage the template, whether they are staff), not per person. What is
# theirs on it (the e-mail address in the menu, the CSRF token) is a marker in the
# cached copy, filled in per response.
_USER_MARKER = f"user-{secrets.token_hex(16)}"
_SIGNED_IN_SQL = _template_sql(
    "SELECT {version}, {updated}, {owner} FROM {table} "
    "WHERE {slug} = %s AND {version} IS NOT NULL AND ({visibility} IN (%s, %s) OR {owner} = %s)"
)


class _MarkedUser:
    """The signed-in user, for a page rendered once for everyone alike: the address is a marker.

    Everything else the page reads of the user (signed in, staff, whether they own the
    template) is part of the cache key.
    """

    def __init__(self, user: Any) -> None:
        self._user = user

    @property
    def email(self) -> str:
        return _USER_MARKER

    def __getattr__(self, name: str) -> Any:
        return getattr(self._user, name)


def _cached_signed_in_page(request: HttpRequest, slug: str) -> HttpResponse | None:
    """The form page of a signed-in visitor from the process cache, or None for the ordinary road."""
    user = request.user
    with connection.cursor() as cursor:
        cursor.execute(_SIGNED_IN_SQL, [slug, Visibility.PUBLIC, Visibility.SIGNED_IN, user.pk])
        row = cursor.fetchone()
    if row is None:
        return None  # the ordinary road answers 404
    version_id, updated_at, owner_id = row
    provider = _VERSION_PROVIDERS.get(version_id)
    if provider is None:
        return None
    manages = bool(user.is_staff or (owner_id is not None and owner_id == user.pk))
    key = (
        "signed_in",
        version_id,
        updated_at,
        get_language(),
        request.get_full_path(),
        provider_is_available(provider),
        manages,
        bool(user.is_staff),
    )
    html = _PAGES.get(key)
    if html is None:
        response = _render_run_page(request, slug, csrf_marker=_CSRF_MARKER, marked_user=True)
        if response.status_code != 200:
            return response
        html = response.content.decode()
        if len(_PAGES) >= _PAGES_MAX:
            _PAGES.clear()
        _PAGES[key] = html
    page = html.replace(_CSRF_MARKER, get_token(request)).replace(_USER_MARKER, escape(user.email))
    return HttpResponse(page)


def _cached_anonymous_page(request: HttpRequest, slug: str) -> HttpResponse | None:
    """The form page from the process cache, or None to take the ordinary road.

    The key holds the published version's id and the template's last change, so
    publishing (or rolling back) a version, or renaming the template, changes it
    at once; with the language, the full path (the language switcher returns to
    it; query strings bypass the cache) and whether the provider is available, nothing else on the page varies
    for an anonymous visitor but the CSRF token, which is filled in per response.
    """
    # One indexed read, written out: the ORM's query building would cost as much
    # again as the query itself on this, the busiest page.
    with connection.cursor() as cursor:
        cursor.execute(_PUBLISHED_SQL, [slug, Visibility.PUBLIC])
        row = cursor.fetchone()
    if row is None:
        return None  # the ordinary road answers 404
    version_id, updated_at = row
    provider = _VERSION_PROVIDERS.get(version_id)  # versions are immutable
    if provider is None:
        return None  # the ordinary road renders it, and notes the provider
    key = (version_id, updated_at, get_language(), request.get_full_path(), provider_is_available(provider))
    html = _PAGES.get(key)
    if html is None:
        response = _render_run_page(request, slug, csrf_marker=_CSRF_MARKER)
        if response.status_code != 200:
            return response
        html = response.content.decode()
        if len(_PAGES) >= _PAGES_MAX:
            _PAGES.clear()
        _PAGES[key] = html
    return HttpResponse(html.replace(_CSRF_MARKER, get_token(request)))


@require_http_methods(["GET", "POST"])
def run_template(request: HttpRequest, slug: str) -> HttpResponse:
    # A query string never changes the page, but random ones would each take a cache
    # entry and evict the real page: take the ordinary road for them.
    if request.method == "GET" and not request.GET and not len(messages.get_messages(request)):
        cached = _cached_signed_in_page if request.user.is_authenticated else _cached_anonymous_page
        if (page := cached(request, slug)) is not None:
            return page
    return _render_run_page(request, slug)


def _render_run_page(
    request: HttpRequest, slug: str, *, csrf_marker: str | None = None, marked_user: bool = False
) -> HttpResponse:
    template = get_object_or_404(
        Template.objects.visible_to(request.user).runnable().select_related("published_version"),
        slug=slug,
    )
    version = template.published_version
    assert version is not None
    language = get_language()
    form_class = parameter_form_class(version, language)
    form = form_class(request.POST, request.FILES) if request.method == "POST" else form_class()
    status = 200
    limit_headers: dict[str, str] = {}
    if request.method == "POST":
        # The same limits as the API: by plan when signed in, by IP when not.
        limit = ratelimits.check_request(request, request.user, group="runs")
        limit_headers = ratelimits.headers_for(limit)
        if limit.exceeded:
            messages.error(
                request,
                _("You have run templates too often. Try again in %(seconds)d seconds.")
                % {"seconds": max(limit.reset, 1)},
            )
            status = 429
    if request.method == "POST" and status == 200 and form.is_valid():
        try:
            job = submit_generation(
                version, form.cleaned_data, owner=request.user, session_key=visitor_session_key(request)
            )
        except SubmissionError as exc:
            messages.error(request, str(exc))
        else:
            return redirect(job)
    context: dict[str, Any] = {
        "template": template,
        "version": version,
        "form": form,
        "fields_html": parameter_fields_html(version, language, form),
        "provider_available": provider_is_available(version.provider),
    }
    if csrf_marker is not None:
        context["csrf_token"] = csrf_marker
    if marked_user:
        context["user"] = _MarkedUser(request.user)
    _VERSION_PROVIDERS[version.pk] = version.provider
    response = render(request, "templates_app/run.html", context, status=status)
    for header, value in limit_headers.items():
        response[header] = value
    return response


@login_required
@require_http_methods(["GET", "POST"])
def import_template_file(request: HttpRequest) -> HttpResponse:
    """Upload a template file; the page then shows the new template and what could not be imported."""
    form = TemplateImportForm(request.POST or None, request.FILES or None)
    imported = None
    if request.method == "POST" and form.is_valid():
        imported = form.import_for(request.user)
        if imported is not None:
            form = TemplateImportForm()
    template, warnings = imported if imported else (None, [])
    return render(
        request,
        "templates_app/import.html",
        {"form": form, "imported": template, "warnings": warnings},
    )
