"""A template's versions: the history with its diffs, any version's form previewed,
and publishing one (a newer draft, or an older one to roll back)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .access import managed_template_or_404
from .export_views import export_offers
from .forms import parameter_fields_html, parameter_form_class
from .history import version_diff
from .models import ReviewError, ReviewState


def template_history(request: HttpRequest, slug: str) -> HttpResponse:
    template = managed_template_or_404(request, slug)
    versions = list(template.versions.select_related("created_by").order_by("number"))
    entries = [
        {"version": version, "diff": version_diff(versions[index - 1] if index else None, version)}
        for index, version in enumerate(versions)
    ]
    entries.reverse()
    return render(
        request,
        "templates_app/history.html",
        {
            "template": template,
            "entries": entries,
            "exports": export_offers(template),
            "review_required": template.workspace is not None and template.workspace.review_required,
        },
    )


@require_http_methods(["GET", "POST"])
def preview_version(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Any version's form as it would be served, for its managers; submitting only validates."""
    template = managed_template_or_404(request, slug)
    version = get_object_or_404(template.versions, number=number)
    language = get_language()
    form_class = parameter_form_class(version, language)
    form = form_class(request.POST, request.FILES) if request.method == "POST" else form_class()
    valid = request.method == "POST" and form.is_valid()
    return render(
        request,
        "templates_app/preview.html",
        {
            "template": template,
            "version": version,
            "form": form,
            "valid": valid,
            "fields_html": parameter_fields_html(version, language, form),
        },
    )


@require_POST
def publish_version(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Publish a version: a newer draft, or an older one to roll back. One POST."""
    template = managed_template_or_404(request, slug)
    version = get_object_or_404(template.versions, number=number)
    previous = template.published_version
    if template.needs_review(request.user):
        try:
            template.propose(version, request.user)
        except ReviewError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, _("Proposed version %(number)d for review.") % {"number": version.number}
            )
        return redirect("templates_app:history", slug=template.slug)
    if version.review_state == ReviewState.PROPOSED:
        # A reviewer's publish of a proposal is its approval (kept with the version).
        try:
            template.approve(version, request.user)
        except ReviewError as exc:
            messages.error(request, exc.message)
            return redirect("templates_app:review", slug=template.slug, number=version.number)
    else:
        template.publish(version)
    if previous is not None and version.number < previous.number:
        messages.success(request, _("Rolled back to version %(number)d.") % {"number": version.number})
    else:
        messages.success(request, _("Published version %(number)d.") % {"number": version.number})
    return redirect("templates_app:history", slug=template.slug)
