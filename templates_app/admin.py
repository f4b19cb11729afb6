from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _

from .editor import say_nothing_changed
from .forms import TemplateImportForm
from .models import Template, TemplateVersion
from .version_admin import TemplateEditorAdminMixin


class TemplateVersionInline(admin.TabularInline):
    model = TemplateVersion
    extra = 0
    fields = ("number", "provider", "model", "created_by", "created_at")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Template)
class TemplateAdmin(TemplateEditorAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "owner", "visibility", "published_version", "updated_at")
    list_filter = ("visibility",)
    search_fields = ("name", "slug", "description", "owner__email")
    prepopulated_fields = {"slug": ("name",)}
    raw_id_fields = ("owner",)
    inlines = (TemplateVersionInline,)
    change_list_template = "admin/templates_app/template/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        urls = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="templates_app_template_import",
            )
        ]
        return urls + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Import a template file (PromptLab, Prompd, Prompty, Dotprompt); the admin user owns it."""
        if not self.has_add_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        form = TemplateImportForm(request.POST or None, request.FILES or None)
        imported = None
        if request.method == "POST" and form.is_valid():
            imported = form.import_for(request.user)
            if imported is not None:
                form = TemplateImportForm()
        template, warnings = imported if imported else (None, [])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Import a template file"),
            "form": form,
            "imported": template,
            "warnings": warnings,
        }
        return TemplateResponse(request, "admin/templates_app/template/import.html", context)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "published_version":
            object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            kwargs["queryset"] = TemplateVersion.objects.filter(template_id=object_id or 0)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(TemplateVersion)
class TemplateVersionAdmin(admin.ModelAdmin):
    """Versions are immutable: they can be added (and so published), never edited."""

    list_display = ("template", "number", "provider", "model", "created_by", "created_at")
    list_filter = ("provider",)
    search_fields = ("template__name", "template__slug")
    fields = (
        "template",
        "system_prompt",
        "body",
        "parameters",
        "provider",
        "model",
        "temperature",
        "max_tokens",
        "allowed_models",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: TemplateVersion, form: Any, change: bool) -> None:
        if change:
            return
        template = obj.template
        content = {name: getattr(obj, name) for name in self.fields if name != "template"}
        # The theme (not in this form) is kept from the latest version, as the editor's base.
        version = template.save_content(
            content, author=request.user, publish=True, base=template.latest_version
        )
        if version is None:  # the latest version's content again: publish it, as the editor does
            say_nothing_changed(request, template, publish=True)
            version = template.latest_version
        obj.pk, obj.number = version.pk, version.number
