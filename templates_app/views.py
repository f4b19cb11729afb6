from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from .forms import TemplateImportForm, TemplateListFilter
from .models import Tag, Template


def home(request: HttpRequest) -> HttpResponse:
    visible = Template.objects.visible_to(request.user).runnable()
    filters = TemplateListFilter(request.GET)
    templates = (
        filters.apply(visible).select_related("published_version").prefetch_related("tags").order_by("name")
    )
    context = {
        "templates": templates,
        "filters": filters,
        "tags": Tag.objects.filter(templates__in=visible).distinct(),
    }
    return render(request, "templates_app/home.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def import_template_file(request: HttpRequest) -> HttpResponse:
    """Upload a template file; the page then shows the new template and what could not be imported."""
    form = TemplateImportForm(request.POST or None, request.FILES or None)
    imported = None
    if request.method == "POST" and form.is_valid():
        imported = form.import_for(request.user)
        if imported is not None:
            form = TemplateImportForm()
    template, warnings = imported if imported else (None, [])
    return render(
        request,
        "templates_app/import.html",
        {"form": form, "imported": template, "warnings": warnings},
    )
