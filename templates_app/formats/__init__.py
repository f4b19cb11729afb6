"""Templates in and out of files: PromptLab's own Markdown format, Prompd
``.prmd``, Microsoft Prompty ``.prompty`` and Dotprompt ``.prompt``.

Each format module has ``parse(text) -> ImportedTemplate`` and
``dump(version, warnings=None) -> str``; what a format can't express, in
either direction, is reported as a warning rather than dropped in silence.
"""

from __future__ import annotations

from pathlib import PurePath
from types import ModuleType

from django.utils.translation import gettext as _

from . import dotprompt, prompd, promptlab, prompty
from .base import FormatError, ImportedTemplate

FORMATS: dict[str, ModuleType] = {module.NAME: module for module in (promptlab, prompd, prompty, dotprompt)}
DEFAULT_FORMAT = promptlab.NAME

__all__ = [
    "DEFAULT_FORMAT",
    "FORMATS",
    "FormatError",
    "ImportedTemplate",
    "format_for_filename",
    "get_format",
]


def get_format(name: str) -> ModuleType:
    try:
        return FORMATS[name]
    except KeyError:
        raise FormatError(
            _("Unknown format “%(name)s” (known: %(known)s).") % {"name": name, "known": ", ".join(FORMATS)}
        ) from None


def format_for_filename(filename: str) -> ModuleType:
    suffix = PurePath(filename).suffix.lower()
    for module in FORMATS.values():
        if suffix in module.EXTENSIONS:
            return module
    raise FormatError(
        _("The file type “%(suffix)s” is not one PromptLab imports (%(known)s).")
        % {
            "suffix": suffix or filename,
            "known": ", ".join(ext for m in FORMATS.values() for ext in m.EXTENSIONS),
        }
    )


def extensions() -> list[str]:
    return [extension for module in FORMATS.values() for extension in module.EXTENSIONS]
