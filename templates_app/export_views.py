"""A template's published version as a file, for a signed-in session (the API's export)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_http_methods

from .formats import DEFAULT_FORMAT, FORMATS, FormatError
from .formats.service import export_template
from .models import Template


def export_offers(template: Template) -> list[dict[str, object]]:
    """Each format's download of the published version, with what that format can't hold."""
    if template.published_version is None:
        return []
    offers = []
    for name in FORMATS:
        try:
            warnings = export_template(template, name).warnings
        except FormatError as exc:
            warnings = exc.errors
        offers.append({"format": name, "label": FORMATS[name].LABEL, "warnings": warnings})
    return offers


@login_required
@require_http_methods(["GET", "HEAD"])
def export_file(request: HttpRequest, slug: str) -> HttpResponse:
    """The published version as a file: the API's export for a signed-in session.

    The same access as the API's: a signed-in person who may see the template (its
    managers always); 404 for anyone else, as if it did not exist.
    """
    template = get_object_or_404(Template.objects.select_related("published_version", "owner"), slug=slug)
    manages = template.is_managed_by(request.user)
    if not (manages or Template.objects.visible_to(request.user).filter(pk=template.pk).exists()):
        raise Http404
    format_name = request.GET.get("format") or DEFAULT_FORMAT
    if format_name not in FORMATS:
        raise Http404
    try:
        exported = export_template(template, format_name)
    except FormatError as exc:  # no published version yet
        if not manages:
            raise Http404 from None
        messages.error(request, " ".join(exc.errors))
        return redirect("templates_app:history", slug=template.slug)
    response = exported.as_response()
    response["Cache-Control"] = "private, no-store"
    return response
