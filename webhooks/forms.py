from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from . import egress
from .events import EVENTS
from .models import WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    """An endpoint: where to send, what for. The API's serializer checks the same
    (``egress.url_problems``, the event registry)."""

    url = forms.CharField(
        label=_("Endpoint URL"),
        max_length=egress.URL_MAX_LENGTH,
        help_text=_("Where PromptLab sends the events, e.g. https://example.com/hooks/promptlab."),
        widget=forms.URLInput(attrs={"autocomplete": "url", "spellcheck": "false"}),
    )
    events = forms.MultipleChoiceField(
        label=_("Which events should be sent?"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one event.")},
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "events", "is_active")
        labels = {"description": _("Description"), "is_active": _("Send events to this endpoint")}
        help_texts = {
            "description": _("What the endpoint is for, for you."),
            "is_active": _("Unticked, events are not sent (nor kept to send later)."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read when the form is made, so that events registered later are offered too.
        self.fields["events"].choices = [(event.name, event.label) for event in EVENTS]
        self.fields["events"].help_text = " ".join(f"{event.label}: {event.description}" for event in EVENTS)
        if self.instance.pk is None:
            del self.fields["is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        problems = egress.url_problems(url)
        if problems:
            raise forms.ValidationError(problems)
        return url
