from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from .access import workspace_with_readable_log
from .exports import csv_stream
from .forms import AuditFilter
from .models import AuditEntry

ENTRIES_PER_PAGE = 50


def _filtered(request: HttpRequest, workspace: Any) -> tuple[AuditFilter, Any]:
    entries = AuditEntry.objects.in_workspace(workspace)
    filters = AuditFilter(request.GET or None, entries=entries)
    return filters, filters.apply(entries)


@login_required
@require_GET
def workspace_log(request: HttpRequest, slug: str) -> HttpResponse:
    """The workspace's audit log, newest first, for its admins and owner."""
    workspace = workspace_with_readable_log(request.user, slug)
    filters, entries = _filtered(request, workspace)
    return _page(request, workspace, filters, entries)


def _page(
    request: HttpRequest, workspace: Any, filters: AuditFilter, entries: Any, status: int = 200
) -> HttpResponse:
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"workspace": workspace, "page": page, "filters": filters, "filter_query": query.urlencode()}
    return render(request, "audit/log.html", context, status=status)


@login_required
@require_GET
def workspace_log_csv(request: HttpRequest, slug: str) -> HttpResponse | StreamingHttpResponse:
    """The entries the same filter shows, every page of them, as CSV."""
    workspace = workspace_with_readable_log(request.user, slug)
    filters, entries = _filtered(request, workspace)
    if filters.is_bound and not filters.is_valid():
        # Not every entry in place of the ones asked for: the page, with the filter's errors.
        return _page(request, workspace, filters, entries, status=400)
    response = StreamingHttpResponse(
        csv_stream(entries.iterator(chunk_size=500)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-{workspace.slug}-{stamp}.csv"'
    return response
