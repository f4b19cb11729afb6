from __future__ import annotations

import csv
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET

from .charts import Chart, Series
from .figures import Figures, by_group, over_time, total
from .forms import PeriodForm, grouping_for
from .scope import sees_everyone, sees_members, visible_rollups


@login_required
@require_GET
def usage_page(request: HttpRequest) -> HttpResponse:
    """The usage page (usage:page); ``?csv=<chart or table>`` downloads that one's numbers."""
    form = PeriodForm(request.GET or None)
    period = form.chosen_period()
    grouping = grouping_for(period)
    rollups = visible_rollups(request.user)
    steps = over_time(rollups, period, grouping)
    breakdowns = {
        "template": by_group(rollups, period, "template"),
        "model": by_group(rollups, period, "model"),
        "error": by_group(rollups, period, "error"),
    }
    if sees_everyone(request.user):
        breakdowns["person"] = by_group(rollups, period, "person")
    charts = _charts(steps, breakdowns["error"], grouping)
    tables = _breakdown_tables(breakdowns)
    wanted = request.GET.get("csv")
    if wanted:
        chosen = next((c for c in [*charts, *tables] if c.slug == wanted), None)
        if chosen is None:
            raise Http404
        return _csv_response(chosen, period)
    context = {
        "form": form,
        "period": period,
        "last_hour": period.end - timezone.timedelta(hours=1),
        "total": total(steps),
        "charts": charts,
        "tables": tables,
        "everyone": sees_everyone(request.user),
        "members": sees_members(request.user),
        "query": request.GET.urlencode(),
    }
    return render(request, "usage/page.html", context)


def _step_label(grouping: str) -> Any:
    if grouping == "hour":
        return lambda f: formats.date_format(timezone.localtime(f.group), "SHORT_DATETIME_FORMAT")
    return lambda f: formats.date_format(f.group, "SHORT_DATE_FORMAT")


def _charts(steps: list[Figures], errors: list[Figures], grouping: str) -> list[Chart]:
    label = _step_label(grouping)
    when = _("Hour") if grouping == "hour" else _("Day")

    def over(slug: str, title: str, kind: str, *series: Series, unit: str = "") -> Chart:
        return Chart(slug, title, kind, series, steps, label, when, unit=unit)

    return [
        over(
            "runs", _("Runs by status"), "bars",
            Series(pgettext("runs counted", "Succeeded"), lambda f: f.succeeded),
            Series(pgettext("runs counted", "Failed"), lambda f: f.failed),
            Series(pgettext("runs counted", "Cancelled"), lambda f: f.cancelled),
        ),
        over(
            "tokens", _("Tokens"), "lines",
            Series(_("Input tokens"), lambda f: f.input_tokens),
            Series(_("Output tokens"), lambda f: f.output_tokens),
        ),
        over("cost", _("Cost (USD)"), "bars", Series(_("Cost (USD)"), lambda f: f.cost, 4)),
        over(
            "saved", _("Calls saved"), "bars",
            Series(_("By the cache"), lambda f: f.cached),
            Series(_("By coalescing"), lambda f: f.coalesced),
        ),
        over(
            "cost-saved", _("Cost saved (USD)"), "bars",
            Series(_("Cost saved (USD)"), lambda f: f.cost_saved, 4),
        ),
        over(
            "ttft", _("Time to first token (ms)"), "lines",
            Series(_("Median"), lambda f: f.ttft_p50_ms),
            Series(_("95th percentile"), lambda f: f.ttft_p95_ms),
        ),
        over(
            "duration", _("Duration (ms)"), "lines",
            Series(_("Median"), lambda f: f.duration_p50_ms),
            Series(_("95th percentile"), lambda f: f.duration_p95_ms),
        ),
        Chart("errors", _("Errors by code"), "bars", [Series(_("Failed runs"), lambda f: f.failed)], errors,
              lambda f: f.label, _("Error code")),
    ]  # fmt: skip


def _breakdown_tables(breakdowns: dict[str, list[Figures]]) -> list[Chart]:
    names = {
        "template": _("By template"),
        "model": _("By provider and model"),
        "person": _("By person"),
    }
    columns = [
        Series(_("Runs"), lambda f: f.runs),
        Series(pgettext("runs counted", "Succeeded"), lambda f: f.succeeded),
        Series(pgettext("runs counted", "Failed"), lambda f: f.failed),
        Series(pgettext("runs counted", "Cancelled"), lambda f: f.cancelled),
        Series(_("Input tokens"), lambda f: f.input_tokens),
        Series(_("Output tokens"), lambda f: f.output_tokens),
        Series(_("Cost (USD)"), lambda f: f.cost, 4),
        Series(_("Calls saved"), lambda f: f.calls_saved),
        Series(_("Cost saved (USD)"), lambda f: f.cost_saved, 4),
        Series(_("Median duration (ms)"), lambda f: f.duration_p50_ms),
    ]
    category = {"template": _("Template"), "model": _("Provider and model"), "person": _("Person")}
    visitors = _("Visitors (not signed in)")
    return [
        Chart(
            f"by-{kind}",
            names[kind],
            "table",
            columns,
            breakdowns[kind],
            lambda f: f.label or (visitors if f.group is None else str(f.group)),
            category[kind],
        )  # fmt: skip
        for kind in ("template", "model", "person")
        if kind in breakdowns
    ]


def _csv_response(chart: Chart, period: Any) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"usage-{chart.slug}-{period.start:%Y%m%d%H}-{period.end:%Y%m%d%H}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    csv.writer(response).writerows(chart.csv_rows())
    return response
