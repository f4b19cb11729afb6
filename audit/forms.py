"""The filter above a workspace's audit log (the page, its CSV and the API share it)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Action, AuditEntryQuerySet


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")  # what <input type=date> sends and shows


class AuditFilter(forms.Form):
    """A GET form: the URL is the filter, so it can be bookmarked and works without JavaScript."""

    action = forms.ChoiceField(label=_("What"), required=False)
    person = forms.ChoiceField(label=_("Who"), required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=DateInput())
    date_to = forms.DateField(label=_("To"), required=False, widget=DateInput())

    def __init__(self, data: Any, *, entries: AuditEntryQuerySet) -> None:
        super().__init__(data)
        self.fields["action"].choices = [("", _("Any action")), *Action.choices]
        # The people the log names (by the address kept: a deleted account's too).
        people = entries.exclude(actor_email="").order_by("actor_email").values_list("actor_email", flat=True)
        self.fields["person"].choices = [("", _("Anyone")), *((email, email) for email in people.distinct())]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date must be the same as or after the start date."))
        return cleaned

    @property
    def active(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in self.fields)

    def apply(self, entries: AuditEntryQuerySet) -> AuditEntryQuerySet:
        """The entries that match; an invalid filter shows its errors and filters nothing."""
        if not self.is_valid():
            return entries
        data = self.cleaned_data
        if data["action"]:
            entries = entries.filter(action=data["action"])
        if data["person"]:
            entries = entries.filter(actor_email=data["person"])
        # Days in the reader's time zone, as a range on created_at (the workspace's index serves it).
        if data["date_from"]:
            entries = entries.filter(created_at__gte=_start_of(data["date_from"]))
        if data["date_to"]:
            entries = entries.filter(created_at__lt=_start_of(data["date_to"] + timedelta(days=1)))
        return entries


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
