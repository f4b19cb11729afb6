"""The template lists' actions: duplicate, delete (soft, after a confirmation page) and restore.

The lists themselves are ``views.home`` (the templates one may run) and
``editor_views.my_templates`` (one's own); both filter through ``TemplateListFilter``.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .access import managed_template_or_404
from .models import Template


@login_required
@require_POST
def duplicate_template(request: HttpRequest, slug: str) -> HttpResponse:
    """A copy of a template one may see, owned by the user as a private, unpublished draft."""
    template = get_object_or_404(
        Template.objects.visible_to(request.user).select_related("published_version"), slug=slug
    )
    copy = template.duplicate_for(request.user)
    messages.success(
        request,
        _("“%(name)s” is your copy: a draft nobody else can see until you publish it.")
        % {"name": copy.display_name},
    )
    return redirect("templates_app:edit", slug=copy.slug)


@login_required
@require_http_methods(["GET", "POST"])
def delete_template(request: HttpRequest, slug: str) -> HttpResponse:
    """GET asks for confirmation (works without JavaScript); POST deletes (softly: restorable)."""
    template = managed_template_or_404(request, slug)
    if request.method == "POST":
        template.soft_delete()
        messages.success(
            request,
            _("“%(name)s” was deleted. You can restore it from the deleted templates below.")
            % {"name": template.display_name},
        )
        return redirect(reverse("templates_app:mine") + "#deleted-heading")
    return render(request, "templates_app/delete.html", {"template": template})


@login_required
@require_POST
def restore_template(request: HttpRequest, slug: str) -> HttpResponse:
    template = Template.all_objects.filter(slug=slug, deleted_at__isnull=False).first()
    if template is None or not template.is_managed_by(request.user):
        raise Http404
    template.restore()
    messages.success(request, _("“%(name)s” was restored.") % {"name": template.display_name})
    return redirect("templates_app:mine")
