"""Who reaches a template's pages: the lookups the theme, history, export and editor
views share. Anyone not allowed gets a 404, as if the template did not exist."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from .models import Template, TemplateVersion


def managed_template_or_404(request: HttpRequest, slug: str) -> Template:
    """The template, for those who manage it (``Template.is_managed_by``)."""
    template = get_object_or_404(Template.objects.select_related("published_version", "owner"), slug=slug)
    if not template.is_managed_by(request.user):
        raise Http404
    return template


def visible_version_or_404(request: HttpRequest, slug: str, number: int) -> TemplateVersion:
    """A version the user may see: the published one of a visible template, or any for its managers."""
    return get_object_or_404(
        TemplateVersion.objects.visible_to(request.user).select_related(
            "template", "template__published_version"
        ),
        template__slug=slug,
        number=number,
    )
