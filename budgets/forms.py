from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from .models import Budget

LIMIT_FIELDS = ("token_limit", "cost_limit", "soft_percent")


def _shown_plainly(form: forms.ModelForm) -> None:
    """A stored cost as a person wrote it: 5, not 5.000000 (and 10, not 1E+1)."""
    value = form.initial.get("cost_limit")
    if value is not None:
        form.initial["cost_limit"] = f"{value.normalize():f}"


class WorkspaceBudgetForm(forms.ModelForm):
    """The workspace's own budget, and its budget settings."""

    class Meta:
        model = Budget
        fields = (*LIMIT_FIELDS, "allow_unpriced_models")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _shown_plainly(self)


class MemberBudgetForm(forms.ModelForm):
    """One member's budget within the workspace: chosen by member, made or changed; with
    both limits empty it is removed."""

    member_choice = forms.ModelChoiceField(
        label=_("Member"), queryset=get_user_model().objects.none(), empty_label=_("Choose a member")
    )

    class Meta:
        model = Budget
        fields = LIMIT_FIELDS

    def __init__(self, *args: Any, members: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["member_choice"].queryset = members
        self.order_fields(["member_choice", *LIMIT_FIELDS])
