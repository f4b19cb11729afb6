from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .figures import FIRST_YEAR, LAST_YEAR, MAX_DAYS, Period

PERIODS = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24}


class PeriodForm(forms.Form):
    period = forms.ChoiceField(
        label=_("Period"),
        choices=[
            ("24h", _("Last 24 hours")),
            ("7d", _("Last 7 days")),
            ("30d", _("Last 30 days")),
            ("custom", _("Chosen dates")),
        ],
        initial="7d",
        required=False,
        widget=forms.RadioSelect,
    )
    start = forms.DateField(
        label=_("From (optional)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To (optional)"),
        help_text=_("Included."),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("period") != "custom":
            return data
        start, end = data.get("start"), data.get("end")
        for name, day in (("start", start), ("end", end)):
            if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:
                self.add_error(
                    name,
                    _("Enter a date in the years %(first)d to %(last)d.")
                    % {"first": FIRST_YEAR, "last": LAST_YEAR},
                )
        if self.errors:
            return data
        if start is None and "start" not in self.errors:
            self.add_error("start", _("Enter the first day of the period."))
        if end is None and "end" not in self.errors:
            self.add_error("end", _("Enter the last day of the period."))
        if start and end:
            if end < start:
                self.add_error("end", _("The last day must be the same as or after the first day."))
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("end", _("Choose at most %(days)d days.") % {"days": MAX_DAYS})
        return data

    def chosen_period(self) -> Period:
        """The period asked for (the default one when the form is not valid)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        choice = data.get("period") or "7d"
        if choice == "custom":
            return Period.around(_midnight(data["start"]), _midnight(data["end"] + timedelta(days=1)))
        return Period.last(PERIODS[choice])


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def grouping_for(period: Period) -> str:
    """Hours for up to two days, days beyond."""
    return "hour" if period.hours <= 48 else "day"
