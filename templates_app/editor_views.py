"""The site's template editor: my templates, create and edit (a draft or published
version per save), and the live preview the editor asks for as one types (htmx)."""

from __future__ import annotations

import base64
import hashlib

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.csp import CSP
from django.utils.translation import gettext as _
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_http_methods, require_POST

from workspaces.current import current_id

from .access import managed_template_or_404
from .editor import (
    AddParameterForm,
    TemplateMetaForm,
    VersionForm,
    report_save,
    with_added_parameter,
)
from .editor_preview import preview_context
from .formats import FORMATS
from .forms import TemplateListFilter
from .models import Tag, Template


@login_required
def my_templates(request: HttpRequest) -> HttpResponse:
    mine = Template.objects.in_workspaces_edited_by(request.user)
    filters = TemplateListFilter(request.GET)
    templates = (
        filters.apply(mine).select_related("published_version").prefetch_related("tags").order_by("name")
    )
    formats = [{"format": name, "label": module.LABEL} for name, module in FORMATS.items()]
    context = {
        "templates": templates,
        "formats": formats,
        "filters": filters,
        "tags": Tag.objects.filter(templates__in=mine).distinct(),
        "deleted": Template.all_objects.in_workspaces_edited_by(request.user)
        .filter(deleted_at__isnull=False)
        .order_by("-deleted_at"),
    }
    return render(request, "templates_app/mine.html", context)


# The code editor (CodeMirror) writes a style element of its own: on the editor's pages a
# style may also carry the response's nonce, which the page hands to the editor
# (EditorView.cspNonce). It also sets one style attribute, the same on every editor,
# its content's "tab-size: 4": that exact attribute (its hash, with 'unsafe-hashes',
# which admits hashed attributes and nothing else) is allowed too. Scripts stay 'self'.
CODE_EDITOR_STYLE_ATTRIBUTE = "tab-size: 4"
_ATTRIBUTE_HASH = base64.b64encode(hashlib.sha256(CODE_EDITOR_STYLE_ATTRIBUTE.encode()).digest()).decode()
EDITOR_CSP = {
    **settings.SECURE_CSP,
    "style-src": [
        *settings.SECURE_CSP["style-src"],
        CSP.NONCE,
        CSP.UNSAFE_HASHES,
        f"'sha256-{_ATTRIBUTE_HASH}'",
    ],
}


@login_required
@csp_override(EDITOR_CSP)
@require_http_methods(["GET", "POST"])
def create_template(request: HttpRequest) -> HttpResponse:
    data = with_added_parameter(request)
    meta_form = TemplateMetaForm(
        data, prefix="meta", user=request.user, current_workspace=current_id(request)
    )
    form = VersionForm(data, request.FILES or None, user=request.user, prefix="editor")
    return _editor(request, None, meta_form, form)


@login_required
@csp_override(EDITOR_CSP)
@require_http_methods(["GET", "POST"])
def edit_template(request: HttpRequest, slug: str) -> HttpResponse:
    template = managed_template_or_404(request, slug)
    # The version the form was started from (posted back), or the one asked for (?from=N).
    base = template.editor_start(_number(request.POST.get("base") or request.GET.get("from")))
    data = with_added_parameter(request)
    meta_form = TemplateMetaForm(
        data, instance=template, prefix="meta", user=request.user, current_workspace=current_id(request)
    )
    form = VersionForm(data, request.FILES or None, user=request.user, base=base, prefix="editor")
    return _editor(request, template, meta_form, form)


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None


def _editor(
    request: HttpRequest, template: Template | None, meta_form: TemplateMetaForm, form: VersionForm
) -> HttpResponse:
    action = request.POST.get("action", "draft")
    if request.method == "POST" and not request.POST.get("add_parameter") and action in SAVE_ACTIONS:
        saved = _save(request, template, meta_form, form, publish=action == "publish")
        if saved is not None:
            if action == "test_run":
                # The saved draft (or the unchanged version) is run from its preview page.
                return redirect("templates_app:preview", slug=saved.slug, number=saved.editor_start().number)
            return redirect("templates_app:history", slug=saved.slug)
    has_errors = bool(form.is_bound and (form.errors or meta_form.errors))
    context = {
        "template": template,
        "meta_form": meta_form,
        "form": form,
        "has_errors": has_errors,
        "newer_versions": template.newer_than_published() if template else [],
        "needs_review": template is not None and template.needs_review(request.user),
    }
    preview = preview_context(request, prefix=form.prefix or "", base=form.base, data=form.data)
    return render(request, "templates_app/editor.html", context | preview)


SAVE_ACTIONS = ("draft", "publish", "test_run")


def _save(
    request: HttpRequest,
    template: Template | None,
    meta_form: TemplateMetaForm,
    form: VersionForm,
    *,
    publish: bool,
) -> Template | None:
    """Save the name, slug and visibility, and the content (``Template.save_content``)."""
    if not (meta_form.is_valid() and form.is_valid()):
        return None
    try:
        with transaction.atomic():
            saved = meta_form.save(commit=False)
            if template is None:
                saved.owner = request.user
            saved.save()
            meta_form.save_tags(saved)
            # Compared with the version the form started from: content equal to it makes none.
            outcome = saved.save_content(
                form.content(),
                author=request.user,
                publish=publish,
                base=form.base,
                logo=form.logo_upload,
            )
    except ValidationError as exc:
        form.apply_model_errors(exc)
        return None
    except IntegrityError:
        meta_form.add_error("slug", _("A template with this slug already exists."))
        return None
    report_save(request, outcome)
    return saved


@require_POST
def editor_preview(request: HttpRequest) -> HttpResponse:
    """The live preview (htmx): the generated form for the schema being typed, or its errors."""
    if not request.user.is_authenticated:
        raise Http404
    context = preview_context(request, prefix=request.POST.get("prefix", "editor"))
    return render(request, "templates_app/editor_preview.html", context)


@require_POST
def editor_add_parameter(request: HttpRequest) -> JsonResponse:
    """The editor's "Add" in place (JavaScript): the schema text with the parameter appended,
    nothing saved. Without JavaScript the same button submits the editor form instead."""
    if not request.user.is_authenticated:
        raise Http404
    form = AddParameterForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    name = form.cleaned_data["name"]
    return JsonResponse(
        {
            "schema": form.cleaned_data["added_schema"],
            "message": _("Added the parameter “%(name)s”; save to keep it.") % {"name": name},
        }
    )
