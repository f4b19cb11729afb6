from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from providers import provider_is_available

from .access import managed_template_or_404
from .editor import report_save
from .forms import ProviderSwitchForm, TemplateImportForm, TemplateListFilter
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
    switch_form = None
    if template is not None and not provider_is_available(template.published_version.provider):
        switch_form = ProviderSwitchForm(template=template)
    return render(
        request,
        "templates_app/import.html",
        {"form": form, "imported": template, "warnings": warnings, "switch_form": switch_form},
    )


@login_required
@require_http_methods(["GET", "POST"])
def switch_provider(request: HttpRequest, slug: str) -> HttpResponse:
    """Move a template onto a provider configured here (offered after importing a file whose
    provider is not): a new version, published, as the import's was."""
    template = managed_template_or_404(request, slug)
    form = ProviderSwitchForm(request.POST or None, template=template)
    if request.method == "POST" and form.is_valid():
        try:
            saved = form.save(request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            report_save(request, saved)
            return redirect("templates_app:history", slug=template.slug)
    current = form.base.provider if form.base is not None else ""
    context = {
        "template": template,
        "form": form,
        "current_provider": current,
        "current_available": bool(current) and provider_is_available(current),
    }
    return render(request, "templates_app/switch_provider.html", context)
