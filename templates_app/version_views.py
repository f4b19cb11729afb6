"""Themes, versions and the editor: theme stylesheets and logos, draft preview,
publish and roll back, history, and the template editor with its live preview."""

from __future__ import annotations

import json
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .editor import (
    TemplateMetaForm,
    VersionForm,
    initial_preview,
    posted_preview,
    preview_context,
    save_warnings,
    say_nothing_changed,
)
from .formats import DEFAULT_FORMAT, FORMATS, FormatError
from .formats.service import export_template
from .forms import parameter_fields_html, parameter_form_class
from .history import version_diff
from .models import Template, TemplateVersion, ThemeLogo

A_YEAR = 365 * 24 * 3600


# --- Themes ----------------------------------------------------------------------


def _managed_template(request: HttpRequest, slug: str) -> Template:
    """The template, for its owner or staff; 404 for anyone else (as if it did not exist)."""
    template = get_object_or_404(Template.objects.select_related("published_version", "owner"), slug=slug)
    if not template.is_managed_by(request.user):
        raise Http404
    return template


def _version_for(request: HttpRequest, slug: str, number: int) -> TemplateVersion:
    """A version the user may see: the published one of a visible template, or any for its managers."""
    return get_object_or_404(
        TemplateVersion.objects.visible_to(request.user).select_related(
            "template", "template__published_version"
        ),
        template__slug=slug,
        number=number,
    )


@require_http_methods(["GET", "HEAD"])
def theme_css(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """A version's theme as a stylesheet: a URL of its own keeps ``style-src 'self'``."""
    version = _version_for(request, slug, number)
    theme = version.parsed_theme
    if theme is None:
        raise Http404
    response = HttpResponse(theme.stylesheet(), content_type="text/css; charset=utf-8")
    # A version never changes, so neither does its stylesheet.
    public = version.template.visibility == "public"
    patch_cache_control(
        response, max_age=A_YEAR, immutable=True, **({"public": True} if public else {"private": True})
    )
    return response


@require_http_methods(["GET", "HEAD"])
def theme_logo(request: HttpRequest, digest: str) -> HttpResponse:
    """A logo by the SHA-256 of its bytes: the address is the content, so it caches forever."""
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise Http404  # not a digest (PostgreSQL refuses some strings, a NUL byte, outright)
    logo = get_object_or_404(ThemeLogo, digest=digest)
    response = HttpResponse(bytes(logo.data), content_type=logo.content_type)
    patch_cache_control(response, public=True, max_age=A_YEAR, immutable=True)
    response["Content-Disposition"] = "inline"
    return response


# --- Versions: preview, publish, history ------------------------------------------


@require_http_methods(["GET", "POST"])
def preview_version(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    """Any version's form as it would be served, for the owner and staff; submitting only validates."""
    template = _managed_template(request, slug)
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
    template = _managed_template(request, slug)
    version = get_object_or_404(template.versions, number=number)
    previous = template.published_version
    template.publish(version)
    if previous is not None and version.number < previous.number:
        messages.success(request, _("Rolled back to version %(number)d.") % {"number": version.number})
    else:
        messages.success(request, _("Published version %(number)d.") % {"number": version.number})
    return redirect("templates_app:history", slug=template.slug)


def template_history(request: HttpRequest, slug: str) -> HttpResponse:
    template = _managed_template(request, slug)
    versions = list(template.versions.select_related("created_by").order_by("number"))
    entries = [
        {"version": version, "diff": version_diff(versions[index - 1] if index else None, version)}
        for index, version in enumerate(versions)
    ]
    entries.reverse()
    return render(
        request,
        "templates_app/history.html",
        {"template": template, "entries": entries, "exports": _export_offers(template)},
    )


def _export_offers(template: Template) -> list[dict[str, object]]:
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
    owner and staff always); 404 for anyone else, as if it did not exist.
    """
    template = get_object_or_404(Template.objects.select_related("published_version", "owner"), slug=slug)
    if not (
        template.is_managed_by(request.user)
        or Template.objects.visible_to(request.user).filter(pk=template.pk).exists()
    ):
        raise Http404
    format_name = request.GET.get("format") or DEFAULT_FORMAT
    if format_name not in FORMATS:
        raise Http404
    try:
        exported = export_template(template, format_name)
    except FormatError as exc:  # no published version yet
        if not template.is_managed_by(request.user):
            raise Http404 from None
        messages.error(request, " ".join(exc.errors))
        return redirect("templates_app:history", slug=template.slug)
    response = HttpResponse(exported.content, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    response["X-PromptLab-Warnings"] = json.dumps(exported.warnings)
    response["Cache-Control"] = "private, no-store"
    return response


# --- Editor ------------------------------------------------------------------


@login_required
def my_templates(request: HttpRequest) -> HttpResponse:
    templates = (
        Template.objects.filter(owner=request.user).select_related("published_version").order_by("name")
    )
    formats = [{"format": name, "label": module.LABEL} for name, module in FORMATS.items()]
    return render(request, "templates_app/mine.html", {"templates": templates, "formats": formats})


@login_required
@require_http_methods(["GET", "POST"])
def create_template(request: HttpRequest) -> HttpResponse:
    meta_form = TemplateMetaForm(request.POST or None, prefix="meta")
    form = VersionForm(request.POST or None, request.FILES or None, user=request.user, prefix="editor")
    return _editor(request, None, meta_form, form)


@login_required
@require_http_methods(["GET", "POST"])
def edit_template(request: HttpRequest, slug: str) -> HttpResponse:
    template = _managed_template(request, slug)
    base = template.latest_version
    meta_form = TemplateMetaForm(request.POST or None, instance=template, prefix="meta")
    form = VersionForm(
        request.POST or None, request.FILES or None, user=request.user, base=base, prefix="editor"
    )
    return _editor(request, template, meta_form, form)


def _editor(
    request: HttpRequest, template: Template | None, meta_form: TemplateMetaForm, form: VersionForm
) -> HttpResponse:
    action = request.POST.get("action", "draft")
    if request.method == "POST" and action in ("draft", "publish"):
        saved = _save_from_editor(request, template, meta_form, form, publish=action == "publish")
        if saved is not None:
            return redirect("templates_app:history", slug=saved.slug)
    preview = preview_context(request, form) if form.is_bound else initial_preview(form)
    has_errors = bool(form.is_bound and (form.errors or meta_form.errors))
    return render(
        request,
        "templates_app/editor.html",
        {"template": template, "meta_form": meta_form, "form": form, "has_errors": has_errors, **preview},
    )


def _save_from_editor(
    request: HttpRequest,
    template: Template | None,
    meta_form: TemplateMetaForm,
    form: VersionForm,
    *,
    publish: bool,
) -> Template | None:
    if not (meta_form.is_valid() and form.is_valid()):
        return None
    try:
        with transaction.atomic():
            saved = meta_form.save(commit=False)
            if template is None:
                saved.owner = request.user
            saved.save()
            # The editor shows the latest version (a draft, if any): compare with that.
            version = saved.save_content(
                form.content(),
                author=request.user,
                publish=publish or template is None,
                base=saved.latest_version,
                logo=form.logo_upload,
            )
            if version is None:
                say_nothing_changed(request, saved, publish=publish)
                return saved
    except ValidationError as exc:
        form.apply_model_errors(exc)
        return None
    except IntegrityError:
        meta_form.add_error("slug", _("A template with this slug already exists."))
        return None
    if publish or template is None:
        messages.success(request, _("Saved and published version %(number)d.") % {"number": version.number})
    else:
        messages.success(
            request,
            _("Saved version %(number)d as a draft; the form still serves the published version.")
            % {"number": version.number},
        )
    for warning in save_warnings(version):
        messages.warning(request, _("Warning: %(warning)s") % {"warning": warning})
    return saved


@require_POST
def editor_preview(request: HttpRequest) -> HttpResponse:
    """The live preview (htmx): the generated form for the schema being typed, or its errors."""
    if not request.user.is_authenticated:
        raise Http404
    context = posted_preview(request, request.POST.get("prefix", "editor"))
    return render(request, "templates_app/editor_preview.html", context)
