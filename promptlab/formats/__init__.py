"""The site's date formats per language (FORMAT_MODULE_PATH), and the month names' translations.

Brazilian Portuguese writes month names in lower case ("1 de dezembro de 2026"), but
Django's own catalogue capitalises them ("Dezembro"). Marked here, the names are in our
catalogue, which comes first (LOCALE_PATHS), so our lower-case translations win.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

MONTH_NAMES = (
    gettext_noop("January"),
    gettext_noop("February"),
    gettext_noop("March"),
    gettext_noop("April"),
    gettext_noop("May"),
    gettext_noop("June"),
    gettext_noop("July"),
    gettext_noop("August"),
    gettext_noop("September"),
    gettext_noop("October"),
    gettext_noop("November"),
    gettext_noop("December"),
)
