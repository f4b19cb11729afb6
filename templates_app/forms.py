"""Forms derived from a template version's parameter schema, and their cached HTML.

Everything here is keyed by the schema's canonical JSON and the language, so
a cached form can never outlive the schema it came from: a new version with a
new schema has a new key, and identical schemas share one entry.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django import forms
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .formats import FORMATS, FormatError
from .formats.service import MAX_FILE_BYTES, import_template, read_file
from .models import TemplateVersion, Visibility, parsed_schema
from .schema import ParameterForm


@lru_cache(maxsize=1024)
def _form_class(schema_key: str, language: str, settable_hidden: bool = False) -> type[ParameterForm]:
    return parsed_schema(schema_key).form_class(language, settable_hidden=settable_hidden)


@lru_cache(maxsize=1024)
def _empty_form_html(schema_key: str, language: str, settable_hidden: bool = False) -> str:
    form = _form_class(schema_key, language, settable_hidden)()
    return str(render_to_string("includes/parameter_fields.html", {"form": form}))


def parameter_form_class(
    version: TemplateVersion, language: str, *, settable_hidden: bool = False
) -> type[ParameterForm]:
    """The version's form. ``settable_hidden`` (a page form of a template that allows
    it) lets the form, and so a link to it, set hidden parameters; the API's never does."""
    return _form_class(version.schema_key, language, settable_hidden)


def parameter_fields_html(version: TemplateVersion, language: str, form: forms.Form) -> SafeString:
    """The fields' HTML: cached for the empty form, rendered for a submitted or prefilled one."""
    if form.is_bound or form.initial or form.errors:
        html = render_to_string("includes/parameter_fields.html", {"form": form})
    else:
        html = _empty_form_html(version.schema_key, language, bool(getattr(form, "hidden_parameters", None)))
    return mark_safe(html)  # noqa: S308 - rendered by the autoescaping template engine


class TemplateImportForm(forms.Form):
    """The upload form on the site and in the admin."""

    file = forms.FileField(
        label=_("Template file"),
        help_text=format_lazy(
            _(
                "PromptLab Markdown (.md), Prompd (.prmd), Prompty (.prompty) or Dotprompt (.prompt); "
                "UTF-8 text, at most {kb} KB."
            ),
            kb=MAX_FILE_BYTES // 1000,
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".md,.prmd,.prompty,.prompt"}),
    )
    format = forms.ChoiceField(
        label=_("Format"),
        required=False,
        choices=(),
        help_text=_("Leave as it is to tell the format by the file's extension."),
    )
    visibility = forms.ChoiceField(
        label=_("Who may use it"),
        required=False,
        choices=(),
        help_text=_("Leave as it is to keep what the file says (or private)."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["format"].choices = [
            ("", _("From the file's extension")),
            *((name, module.LABEL) for name, module in FORMATS.items()),
        ]
        self.fields["visibility"].choices = [("", _("As the file says")), *Visibility.choices]

    def import_for(self, owner: Any) -> tuple[Any, list[str]] | None:
        """Import the uploaded file for ``owner``; None, with the problems on the form, when it fails."""
        upload = self.cleaned_data["file"]
        try:
            return import_template(
                read_file(upload),
                owner=owner,
                format_name=self.cleaned_data.get("format") or None,
                filename=upload.name,
                visibility=self.cleaned_data.get("visibility") or None,
            )
        except FormatError as exc:
            for error in exc.errors:
                self.add_error("file", error)
            return None


class TemplateListFilter(forms.Form):
    """The search and tag filter above a template list (a GET form: the URL is the filter)."""

    q = forms.CharField(label=_("Search templates"), required=False, max_length=200)
    tag = forms.SlugField(label=_("Tag"), required=False, max_length=50)

    def apply(self, templates: Any) -> Any:
        """The templates that match; a malformed filter filters nothing rather than failing."""
        if not self.is_valid():
            return templates
        return templates.search(self.cleaned_data["q"]).tagged(self.cleaned_data["tag"])

    @property
    def active(self) -> bool:
        return self.is_valid() and bool(self.cleaned_data["q"] or self.cleaned_data["tag"])
