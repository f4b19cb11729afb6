"""Small figures the batch pages show, written for people."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

register = template.Library()


@register.filter
def finished_rows(batch: Any) -> int:
    return batch.succeeded + batch.failed + batch.cancelled


@register.filter
def percent_finished(batch: Any) -> int:
    if not batch.total_rows:
        return 0
    return int(100 * finished_rows(batch) / batch.total_rows)


@register.filter
def time_left(value: timedelta | float | None) -> str:
    """About how long until the batch ends, rounded as a person would say it."""
    if value is None:
        return _("not known yet")
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 60:
        return _("under a minute")
    minutes = round(seconds / 60)
    if minutes < 90:
        return ngettext("about %(n)d minute", "about %(n)d minutes", minutes) % {"n": minutes}
    hours = round(seconds / 3600)
    return ngettext("about %(n)d hour", "about %(n)d hours", hours) % {"n": hours}


@register.filter
def inputs_summary(row: Any, columns: list[str] | None = None) -> str:
    """A row's input cells (``source``) in the file's column order, for a table cell (the
    database keeps a JSON object's keys in an order of its own)."""
    source = row.source if isinstance(row.source, dict) else {}
    names = [name for name in (columns or []) if name in source] or list(source)
    return " · ".join(str(source[name]) for name in names if source[name] not in (None, ""))
