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

from providers import provider_is_available, provider_names
from providers.models import ModelPrice

from .formats import FORMATS, FormatError
from .formats.service import MAX_FILE_BYTES, import_template, read_file
from .models import SavedContent, Template, TemplateVersion, Visibility, model_setting_defaults, parsed_schema
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


def run_form_context(template: Any, form: Any, language: str) -> dict[str, Any]:
    """What every page showing a template's run form needs (the site's and the embedded one)."""
    version = template.published_version
    return {
        "template": template,
        "version": version,
        "form": form,
        "fields_html": parameter_fields_html(version, language, form),
        "provider_available": provider_is_available(version.provider),
        # "All fields are required unless marked (optional)" only where some field is.
        "any_required": any(field.required for field in form.fields.values()),
    }


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
    # Not stripped: a tag is a slug from a link, and white space around it (which
    # includes control characters such as U+001C for str.strip) makes it no slug, as
    # the API's document says, rather than silently no filter.
    tag = forms.SlugField(label=_("Tag"), required=False, max_length=50, strip=False)

    def apply(self, templates: Any) -> Any:
        """The templates that match; a malformed filter filters nothing rather than failing."""
        if not self.is_valid():
            return templates
        return templates.search(self.cleaned_data["q"]).tagged(self.cleaned_data["tag"])

    @property
    def active(self) -> bool:
        return self.is_valid() and bool(self.cleaned_data["q"] or self.cleaned_data["tag"])


def configured_models(current_model: str = "") -> list[tuple[str, str]]:
    """(provider, model) pairs that can run here now: the offline provider's model, the
    priced models of every configured provider, and a configured provider without any
    price with ``current_model``."""
    offline = model_setting_defaults()
    pairs: list[tuple[str, str]] = []
    for name in provider_names():
        if not provider_is_available(name):
            continue
        if name == offline["provider"]:
            pairs.append((name, offline["model"]))
            continue
        priced = list(ModelPrice.objects.filter(provider=name).values_list("model", flat=True))
        pairs += [(name, model) for model in priced] or ([(name, current_model)] if current_model else [])
    return pairs


class ProviderSwitchForm(forms.Form):
    """Switch a template whose provider is not configured here to one that is: a new
    version (from the one the editor would start from) with that provider and model."""

    model_choice = forms.ChoiceField(
        label=_("Run it on"),
        help_text=_("The providers configured on this server, each with a model it can run."),
    )

    def __init__(self, *args: Any, template: Template, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.template = template
        self.base = template.editor_start()
        current = self.base.model if self.base is not None else ""
        self.pairs = {
            f"{provider}/{model}": (provider, model) for provider, model in configured_models(current)
        }
        self.fields["model_choice"].choices = [
            (key, f"{provider} · {model}") for key, (provider, model) in self.pairs.items()
        ]

    def save(self, author: Any) -> SavedContent:
        provider, model = self.pairs[self.cleaned_data["model_choice"]]
        return self.template.save_content(
            {"provider": provider, "model": model}, author=author, publish=True, base=self.base
        )
