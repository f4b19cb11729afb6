"""A version's review: its changes from the published version, the steps so far, and
the forms to comment, approve (which publishes) or ask for changes."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from .access import managed_template_or_404
from .history import version_diff
from .models import ReviewError, ReviewState


class ReviewForm(forms.Form):
    ACTIONS = (  # REVIEW_STEPS, with their labels
        ("comment", _("Comment")),
        ("approve", _("Approve and publish")),
        ("request_changes", _("Ask for changes")),
        ("propose", _("Propose for review")),
    )
    action = forms.ChoiceField(choices=ACTIONS, widget=forms.HiddenInput)
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Needed to ask for changes; optional otherwise."),
    )


_SAID = {
    "approve": _("Approved and published version %(number)d."),
    "request_changes": _("Asked for changes to version %(number)d."),
    "propose": _("Proposed version %(number)d for review."),
    "comment": _("Comment added."),
}


@require_http_methods(["GET", "POST"])
def review_version(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    template = managed_template_or_404(request, slug)
    version = get_object_or_404(template.versions.select_related("created_by"), number=number)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            step = form.cleaned_data["action"]
            template.take_review_step(version, request.user, step, form.cleaned_data["comment"])
        except ReviewError as exc:
            form.add_error("comment" if exc.code == "comment_required" else None, exc.message)
        else:
            messages.success(request, str(_SAID[step]) % {"number": version.number})
            return redirect("templates_app:review", slug=template.slug, number=version.number)
    published = template.published_version
    compared_with = published if published is not None and published.pk != version.pk else None
    if compared_with is None:
        compared_with = template.versions.filter(number__lt=version.number).order_by("-number").first()
    proposal = version.reviews.filter(action="proposed").order_by("-created_at", "-pk").first()
    context = {
        "template": template,
        "version": version,
        "form": form,
        "compared_with": compared_with,
        "diff": version_diff(compared_with, version),
        "steps": version.reviews.select_related("author"),
        "proposed": version.review_state == ReviewState.PROPOSED,
        "may_review": template.may_review(request.user)
        and not (proposal is not None and proposal.author_id == request.user.pk),
        "may_propose": version.pk != template.published_version_id
        and version.review_state != ReviewState.PROPOSED,
    }
    return render(request, "templates_app/review.html", context)
