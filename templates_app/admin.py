"""The admin: templates (with the site's editor and the file import), versions, theme logos."""

from __future__ import annotations

from typing import Any

import yaml
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .editor import VersionForm, report_save, with_added_parameter
from .editor_preview import preview_context
from .forms import TemplateImportForm
from .models import Tag, Template, TemplateVersion, ThemeLogo


class DeletedFilter(admin.SimpleListFilter):
    """Deleted (soft) templates are hidden unless asked for: the admin is where staff find them."""

    title = gettext_lazy("deleted")
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", _("Not deleted")), ("yes", _("Deleted"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name",)
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    # The workspace decides who manages a template; the owner is only who made it.
    list_display = (
        "name",
        "slug",
        "workspace",
        "owner",
        "visibility",
        "published_version",
        "updated_at",
        "deleted_at",
    )
    list_filter = (DeletedFilter, "visibility", "tags")
    search_fields = ("name", "slug", "description", "owner__email", "workspace__name", "workspace__slug")
    prepopulated_fields = {"slug": ("name",)}
    raw_id_fields = ("owner", "workspace")
    filter_horizontal = ()
    readonly_fields = ("content_editor", "version_list", "deleted_at")
    actions = ("restore_templates",)
    change_form_template = "admin/templates_app/template/change_form.html"
    change_list_template = "admin/templates_app/template/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        urls = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="templates_app_template_import",
            ),
            path(
                "<int:object_id>/editor/",
                self.admin_site.admin_view(self.editor_view),
                name="templates_app_template_editor",
            ),
        ]
        return urls + super().get_urls()

    def get_queryset(self, request: HttpRequest) -> Any:
        return Template.all_objects.select_related("owner", "workspace", "published_version")

    @admin.action(description=gettext_lazy("Restore the selected deleted templates"))
    def restore_templates(self, request: HttpRequest, queryset: Any) -> None:
        for template in queryset.filter(deleted_at__isnull=False):
            template.restore()

    @admin.display(description=gettext_lazy("Versions"))
    def version_list(self, obj: Template | None) -> str:
        """The versions as a table with a header for every column (the tabular inline left
        two empty, which screen readers announce as nothing)."""
        if obj is None or obj.pk is None:
            return "—"
        rows = format_html_join(
            "",
            '<tr><th scope="row"><a href="{}">{}</a></th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:templates_app_templateversion_change", args=[version.pk]),
                    _("Version %(number)d") % {"number": version.number},
                    _("published") if version.pk == obj.published_version_id else "",
                    f"{version.provider}/{version.model}",
                    version.created_by or "—",
                    date_format(version.created_at, "DATETIME_FORMAT"),
                )
                for version in obj.versions.select_related("created_by").order_by("-number")
            ),
        )
        return format_html(
            '<table><caption class="visually-hidden">{}</caption><thead><tr><th scope="col">{}</th>'
            '<th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            _("Versions, newest first"),
            _("Version"),
            _("State"),
            _("Model"),
            _("Created by"),
            _("Created"),
            rows,
        )

    @admin.display(description=gettext_lazy("Content"))
    def content_editor(self, obj: Template | None) -> str:
        if obj is None or obj.pk is None:
            return _("Save the template first; then edit its prompt, parameters and theme here.")
        return format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:templates_app_template_editor", args=[obj.pk]),
            _("Edit the prompt, parameters and theme (new version)"),
        )

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
        form = VersionForm(
            with_added_parameter(request),
            request.FILES or None,
            user=request.user,
            # As the site's editor: after a rollback, the published text, not what it replaced.
            base=template.editor_start(_version_number(request.POST.get("base") or request.GET.get("from"))),
            prefix="editor",
        )
        action = request.POST.get("action", "draft")
        saving = action in ("draft", "publish") and not request.POST.get("add_parameter")
        if request.method == "POST" and saving and form.is_valid():
            try:
                saved = template.save_content(
                    form.content(),
                    author=request.user,
                    publish=action == "publish",
                    base=form.base,
                    logo=form.logo_upload,
                )
            except ValidationError as exc:
                form.apply_model_errors(exc)
            else:
                report_save(request, saved)
                return HttpResponseRedirect(
                    reverse("admin:templates_app_template_change", args=[template.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": template,
            "title": _("Edit %(name)s") % {"name": template.name},
            "template": template,
            "form": form,
            "meta_form": None,
            "has_errors": bool(form.is_bound and form.errors),
            **preview_context(request, prefix=form.prefix or "", base=form.base, data=form.data),
        }
        return TemplateResponse(request, "admin/templates_app/template/editor.html", context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Import a template file (PromptLab, Prompd, Prompty, Dotprompt); the admin user owns it."""
        if not self.has_add_permission(request):
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

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return self.fields
        # Shown, not edited: the schema as the editor writes it (YAML), with the theme.
        return [
            "template_link" if name == "template" else "parameters_yaml" if name == "parameters" else name
            for name in self.fields
        ] + ["theme", "created_by", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.get_fields(request, obj) if obj is not None else ()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Immutable: an existing version opens read-only, with no Save button.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # jobs point at versions; a template's history is its versions

    @admin.display(description=gettext_lazy("template"))
    def template_link(self, obj: TemplateVersion) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:templates_app_template_change", args=[obj.template_id]),
            obj.template,
        )

    @admin.display(description=gettext_lazy("parameter schema"))
    def parameters_yaml(self, obj: TemplateVersion) -> str:
        text = yaml.safe_dump(obj.parameters, allow_unicode=True, sort_keys=False) if obj.parameters else "[]"
        return format_html('<pre class="yaml">{}</pre>', text.rstrip("\n"))

    def save_model(self, request: HttpRequest, obj: TemplateVersion, form: Any, change: bool) -> None:
        if change:
            return
        template = obj.template
        content = {name: getattr(obj, name) for name in self.fields if name != "template"}
        # The theme (not in this form) is kept from the latest version, as the editor's base.
        saved = template.save_content(
            content, author=request.user, publish=True, base=template.latest_version
        )
        obj.pk, obj.number = saved.version.pk, saved.version.number
        obj.saved_content = saved  # for log_addition and response_add

    @staticmethod
    def _added(obj: TemplateVersion) -> bool:
        saved = getattr(obj, "saved_content", None)
        return saved is None or saved.created

    def log_addition(self, request: HttpRequest, obj: TemplateVersion, message: Any) -> Any:
        # The latest version's content again adds nothing: no "added" entry in the history.
        return super().log_addition(request, obj, message) if self._added(obj) else None

    def response_add(
        self, request: HttpRequest, obj: TemplateVersion, post_url_continue: Any = None
    ) -> HttpResponse:
        if self._added(obj):
            return super().response_add(request, obj, post_url_continue)
        # Say what the save did, in the editor's words, and not "added successfully".
        report_save(request, obj.saved_content)
        return self.response_post_save_add(request, obj)


@admin.register(ThemeLogo)
class ThemeLogoAdmin(admin.ModelAdmin):
    list_display = ("digest", "content_type", "created_at")
    fields = ("digest", "content_type", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


def _version_number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 10 else None
