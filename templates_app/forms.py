"""Forms derived from a template version's parameter schema, and their cached HTML.

Everything here is keyed by the schema's canonical JSON and the language, so
a cached form can never outlive the schema it came from: a new version with a
new schema has a new key, and identical schemas share one entry.
"""

from __future__ import annotations

from functools import lru_cache

from django import forms
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from .models import TemplateVersion, parsed_schema


@lru_cache(maxsize=1024)
def _form_class(schema_key: str, language: str) -> type[forms.Form]:
    return parsed_schema(schema_key).form_class(language)


@lru_cache(maxsize=1024)
def _empty_form_html(schema_key: str, language: str) -> str:
    form = _form_class(schema_key, language)()
    return str(render_to_string("includes/parameter_fields.html", {"form": form}))


def parameter_form_class(version: TemplateVersion, language: str) -> type[forms.Form]:
    return _form_class(version.schema_key, language)


def parameter_fields_html(version: TemplateVersion, language: str, form: forms.Form) -> SafeString:
    """The fields' HTML: cached for the empty form, rendered for a submitted one."""
    if form.is_bound:
        html = render_to_string("includes/parameter_fields.html", {"form": form})
    else:
        html = _empty_form_html(version.schema_key, language)
    return mark_safe(html)  # noqa: S308 - rendered by the autoescaping template engine
