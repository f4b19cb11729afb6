"""Import a file as a new template (through the model API, which validates),
and export a template's published version as a file."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils.translation import gettext as _

from promptlab.safe_load import find_nul
from providers import provider_is_available

from ..models import Template, Visibility
from ..theme import custom_css_errors
from . import DEFAULT_FORMAT, FORMATS, format_for_filename, get_format
from .base import FormatError, make_slug, name_from_slug

MAX_FILE_BYTES = 500_000


@dataclass
class ExportedFile:
    filename: str
    content: str
    content_type: str
    warnings: list[str]

    def as_response(self) -> HttpResponse:
        """The file as a download, with what the format could not hold in a header."""
        response = HttpResponse(self.content, content_type=self.content_type)
        response["Content-Disposition"] = f'attachment; filename="{self.filename}"'
        response["X-PromptLab-Warnings"] = json.dumps(self.warnings)
        return response


def _check_size(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise FormatError(_("The file is too large (at most %(limit)d bytes).") % {"limit": MAX_FILE_BYTES})


def decode(data: bytes) -> str:
    """A file's bytes as text; FormatError when they are over the limit or not UTF-8."""
    _check_size(len(data))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError(_("The file is not UTF-8 text.")) from None


def read_file(file: Any) -> str:
    """An uploaded or opened file's text (``decode``), read no further than one byte past
    the limit: enough to refuse it, however large it is."""
    return decode(file.read(MAX_FILE_BYTES + 1))


def check_text_size(text: str) -> str:
    """A file's text as sent (not uploaded), refused as a file of its UTF-8 length would be:
    the limit is in bytes, and a character may take up to four."""
    if len(text) > MAX_FILE_BYTES // 4:  # only then can it be over (counting costs a copy)
        # "surrogatepass": JSON may carry a lone surrogate (\ud800); count it rather than fail here.
        _check_size(len(text.encode("utf-8", "surrogatepass")))
    return text


def _free_slug(slug: str) -> str:
    if not Template.all_objects.filter(slug=slug).exists():
        return slug
    for number in range(2, 1000):
        candidate = f"{slug[:75]}-{number}"
        if not Template.all_objects.filter(slug=candidate).exists():
            return candidate
    raise FormatError(_("No free slug is left for “%(slug)s”.") % {"slug": slug})


def import_template(
    text: str,
    *,
    owner: Any,
    format_name: str | None = None,
    filename: str | None = None,
    slug: str | None = None,
    visibility: str | None = None,
) -> tuple[Template, list[str]]:
    """Create a template and its first, published version from a file's text.

    Returns the template and the warnings (what the file said that PromptLab
    can't hold). Raises FormatError, naming each problem, and writes nothing,
    when the file is broken or its content does not validate."""
    if format_name:
        module = get_format(format_name)
    elif filename:
        module = format_for_filename(filename)
    else:
        raise FormatError(_("Say which format the file is in (%(known)s).") % {"known": ", ".join(FORMATS)})
    imported = module.parse(check_text_size(text))
    if find_nul(dataclasses.asdict(imported)):  # in the body, or a YAML "\0" escape
        raise FormatError(_("The file contains the NUL character (U+0000), which can't be stored."))
    warnings = list(imported.warnings)
    stem = filename.rsplit("/", 1)[-1].split(".", 1)[0] if filename else ""
    wanted = make_slug(slug) if slug else make_slug(imported.slug, imported.name, stem) or "imported-template"
    final_slug = wanted if slug else _free_slug(wanted)
    if final_slug != wanted:
        warnings.append(
            _("A template with the slug “%(slug)s” exists; this one was imported as “%(new)s”.")
            % {"slug": wanted, "new": final_slug}
        )
    chosen_visibility = visibility or imported.visibility or Visibility.PRIVATE
    if chosen_visibility not in Visibility.values:
        raise FormatError(
            _("Unknown visibility “%(value)s” (known: %(known)s).")
            % {"value": chosen_visibility, "known": ", ".join(Visibility.values)}
        )
    name = (imported.name or name_from_slug(final_slug))[:120]
    if imported.theme is not None:
        imported.theme = _importable_theme(imported.theme, owner, warnings)
    extra = {} if imported.cache_results is None else {"cache_results": imported.cache_results}
    try:
        with transaction.atomic():
            template = Template.objects.create(
                slug=final_slug,
                name=name,
                description=imported.description,
                owner=owner if owner is not None and owner.is_authenticated else None,
                visibility=chosen_visibility,
                **extra,
            )
            template.save_content(imported.version_content(), author=template.owner, publish=True)
    except ValidationError as exc:
        raise FormatError(_validation_messages(exc)) from None
    except IntegrityError:
        raise FormatError(
            _("A template with the slug “%(slug)s” already exists.") % {"slug": final_slug}
        ) from None
    provider = template.published_version.provider
    if not provider_is_available(provider):
        # Known here (provider_for falls back to offline for unknown ones), but without its key
        # or connection: the form would say "unavailable" and every run would be refused.
        warnings.append(
            _(
                "The provider “%(provider)s” is not configured on this server, so the template can't run "
                "until it is; switch it to a configured provider to run it now."
            )
            % {"provider": provider}
        )
    warnings += template.published_version.warnings  # the prompts', and a workflow's steps'

    return template, warnings


def _importable_theme(theme: dict[str, Any], owner: Any, warnings: list[str]) -> dict[str, Any]:
    """The file's theme less what this import may not bring: a logo (a file holds no
    image, and a digest must not reuse someone else's), and custom CSS unless staff
    import it (as in the editor)."""
    theme = dict(theme)
    if theme.pop("logo", None):
        warnings.append(_("The theme's logo was not imported: upload it in the editor."))
    if custom_css_errors(theme.get("custom_css"), author=owner):
        del theme["custom_css"]
        warnings.append(_("The theme's custom CSS was not imported: only staff can add custom CSS."))
    return theme


def _validation_messages(exc: ValidationError) -> list[str]:
    labels = {
        "parameters": _("Parameters"),
        "steps": _("Steps"),
        "result_step": _("Result step"),
        "theme": _("Theme"),
        "body": _("Prompt body"),
        "system_prompt": _("System prompt"),
        "temperature": _("Temperature"),
        "max_tokens": _("Max tokens"),
        "provider": _("Provider"),
        "model": _("Model"),
        "allowed_models": _("Other models a run may choose"),
    }
    if not hasattr(exc, "message_dict"):
        return list(exc.messages)
    return [
        f"{labels.get(field, field)}: {message}"
        for field, messages in exc.message_dict.items()
        for message in messages
    ]


def export_template(template: Template, format_name: str | None = None) -> ExportedFile:
    module = get_format(format_name or DEFAULT_FORMAT)
    version = template.published_version
    if version is None:
        raise FormatError(_("This template has no published version to export."))
    warnings: list[str] = []
    content = module.dump(version, warnings)
    return ExportedFile(
        filename=f"{template.slug}{module.EXTENSIONS[0]}",
        content=content,
        content_type=module.CONTENT_TYPE,
        warnings=warnings,
    )
