"""The filter above the job list: template, status, date range and a search of inputs and output."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from templates_app.models import Template

from .models import JobQuerySet, JobStatus


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")  # what <input type=date> sends and shows


class JobListFilter(forms.Form):
    """A GET form: the URL is the filter, so it can be bookmarked and works without JavaScript."""

    q = forms.CharField(label=_("Search inputs and output"), required=False, max_length=200)
    template = forms.ChoiceField(label=_("Template"), required=False)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *JobStatus.choices]
    )
    created_from = forms.DateField(label=_("From"), required=False, widget=DateInput())
    created_to = forms.DateField(label=_("To"), required=False, widget=DateInput())

    def __init__(self, data: Any, *, jobs: JobQuerySet) -> None:
        super().__init__(data)
        # Only the templates this person's jobs ran (deleted ones too: the jobs keep their history).
        templates = Template.all_objects.filter(versions__jobs__in=jobs).distinct().order_by("name")
        self.fields["template"].choices = [("", _("Any template"))] + [
            (template.slug, template.display_name) for template in templates
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("created_from"), cleaned.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", _("The end date must be the same as or after the start date."))
        return cleaned

    @property
    def active(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in self.fields)

    def apply(self, jobs: JobQuerySet) -> JobQuerySet:
        """The jobs that match; an invalid filter shows its errors and filters nothing."""
        if not self.is_valid():
            return jobs
        data = self.cleaned_data
        jobs = jobs.search(data["q"])
        if data["template"]:
            jobs = jobs.filter(template_version__template__slug=data["template"])
        if data["status"]:
            jobs = jobs.filter(status=data["status"])
        # Days in the reader's time zone, as a range on created_at (the owner's index serves it).
        if data["created_from"]:
            jobs = jobs.filter(created_at__gte=_start_of(data["created_from"]))
        if data["created_to"]:
            jobs = jobs.filter(created_at__lt=_start_of(data["created_to"] + timedelta(days=1)))
        return jobs


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
