"""The template editor in the admin, and theme logos: kept apart from admin.py so the
import and export work there and this merge without touching each other."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .editor import VersionForm, initial_preview, preview_context, save_warnings, say_nothing_changed
from .models import Template, ThemeLogo


class TemplateEditorAdminMixin:
    """For TemplateAdmin: an editor page per template (the site's editor, in the admin)."""

    readonly_fields = ("content_editor",)
    change_form_template = "admin/templates_app/template/change_form.html"

    @admin.display(description=gettext_lazy("Content"))
    def content_editor(self, obj: Template | None) -> str:
        if obj is None or obj.pk is None:
            return _("Save the template first; then edit its prompt, parameters and theme here.")
        return format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:templates_app_template_editor", args=[obj.pk]),
            _("Edit the prompt, parameters and theme (new version)"),
        )

    def get_urls(self) -> list[Any]:
        editor = self.admin_site.admin_view(self.editor_view)
        return [
            path("<int:object_id>/editor/", editor, name="templates_app_template_editor"),
            *super().get_urls(),
        ]

    def response_add(
        self, request: HttpRequest, obj: Template, post_url_continue: Any = None
    ) -> HttpResponse:
        if "_continue" not in request.POST and "_addanother" not in request.POST:
            # A new template has no content yet: go straight to the editor.
            return HttpResponseRedirect(reverse("admin:templates_app_template_editor", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)

    def editor_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The same editor as the site's: schema as YAML or JSON, live preview, draft or publish."""
        template = get_object_or_404(Template, pk=object_id)
        if not self.has_change_permission(request, template):
            raise PermissionDenied
        base = template.latest_version
        form = VersionForm(
            request.POST or None, request.FILES or None, user=request.user, base=base, prefix="editor"
        )
        action = request.POST.get("action", "draft")
        if request.method == "POST" and action in ("draft", "publish") and form.is_valid():
            publish = action == "publish" or template.published_version is None
            try:
                version = template.save_content(
                    form.content(), author=request.user, publish=publish, base=base, logo=form.logo_upload
                )
                if version is None:
                    say_nothing_changed(request, template, publish=publish)
                else:
                    messages.success(request, _("Saved version %(number)d.") % {"number": version.number})
                    for warning in save_warnings(version):
                        messages.warning(request, _("Warning: %(warning)s") % {"warning": warning})
                return HttpResponseRedirect(
                    reverse("admin:templates_app_template_change", args=[template.pk])
                )
            except ValidationError as exc:
                form.apply_model_errors(exc)
        preview = preview_context(request, form) if form.is_bound else initial_preview(form)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": template,
            "title": _("Edit %(name)s") % {"name": template.name},
            "template": template,
            "form": form,
            "meta_form": None,
            "has_errors": bool(form.is_bound and form.errors),
            **preview,
        }
        return TemplateResponse(request, "admin/templates_app/template/editor.html", context)


@admin.register(ThemeLogo)
class ThemeLogoAdmin(admin.ModelAdmin):
    list_display = ("digest", "content_type", "created_at")
    fields = ("digest", "content_type", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
