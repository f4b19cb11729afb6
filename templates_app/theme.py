"""A template version's theme: colours, font, corner radius, logo and custom CSS.

A theme is a small JSON object stored on the version (so changing it makes a new
version). It is checked on save: every colour pair a person must read meets
WCAG AA, the font is a known stack or a plain list of family names, and custom
CSS (staff only) cannot load anything or escape the form's scope. The page gets
it as a stylesheet of its own URL (``style-src 'self'``: no inline style), which
sets the site's CSS custom properties on the form's ``.theme-root`` element.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _

from promptlab.safe_load import find_nul

# The minimum ratios: WCAG 2.2 SC 1.4.3 (text, AA) and 1.4.11 (UI components).
TEXT_CONTRAST = 4.5
UI_CONTRAST = 3.0

COLOUR_KEYS = ("primary", "primary_text", "background", "text")
THEME_KEYS = {*COLOUR_KEYS, "font", "radius", "logo", "custom_css", "dark"}
# The site's own palette (static/css/app.css): what a theme leaves out.
DEFAULT_LIGHT = {"primary": "#1d4ed8", "primary_text": "#ffffff", "background": "#ffffff", "text": "#1b1f24"}
FONT_STACKS = {
    "system": 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    "humanist": 'Seravek, "Gill Sans Nova", Ubuntu, Calibri, "DejaVu Sans", source-sans-pro, sans-serif',
    "geometric": 'Avenir, Montserrat, Corbel, "URW Gothic", source-sans-pro, sans-serif',
    "serif": 'Charter, "Bitstream Charter", "Sitka Text", Cambria, Georgia, serif',
    "slab": 'Rockwell, "Rockwell Nova", "Roboto Slab", "DejaVu Serif", "Sitka Small", serif',
    "mono": 'ui-monospace, "Cascadia Code", Menlo, Consolas, "DejaVu Sans Mono", monospace',
}
GENERIC_FAMILIES = {"serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui", "ui-serif"}
GENERIC_FAMILIES |= {"ui-sans-serif", "ui-monospace", "ui-rounded", "math", "emoji", "fangsong"}
FAMILY_NAME = re.compile(
    r"""^(?:"[A-Za-z0-9 \-]{1,60}"|'[A-Za-z0-9 \-]{1,60}'|[A-Za-z][A-Za-z0-9\-]{0,59})$"""
)
# Matched with fullmatch: "$" alone lets a trailing newline through.
HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
MAX_COLOUR_LENGTH = len("#rrggbb")
LOGO_DIGEST = re.compile(r"[0-9a-f]{64}")  # a logo is named by the SHA-256 of its bytes
# The limits of a theme: the one home of each, for the model, the editor and the API alike.
MAX_FONT_LENGTH = 300
MAX_FONT_FAMILIES = 12
MAX_RADIUS = 32
MAX_CUSTOM_CSS = 20_000
MAX_LOGO_BYTES = 200_000
# What custom CSS may not contain: anything that loads a resource, or an escape that
# could spell one. (It is served as a stylesheet, never inside HTML; < is refused anyway.)
FORBIDDEN_CSS = re.compile(
    r"@import|@charset|@namespace|@font-face|url\s*\(|image-set\s*\(|image\s*\(|expression\s*\(|javascript:|\\",
    re.IGNORECASE,
)
LOGO_TYPES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


class SettingError(str):
    """A theme problem that one setting causes (``setting``: ``primary``, ``dark_text``,
    ``font``…), so an editor can show it beside that setting's field."""

    setting: str

    def __new__(cls, message: Any, setting: str) -> SettingError:
        error = super().__new__(cls, str(message))
        error.setting = setting
        return error


class ThemeError(ValueError):
    """Problems with a theme, each naming the setting; ``errors`` lists them, and
    ``problems`` the same with their settings where one is at fault (SettingError)."""

    def __init__(self, errors: list[Any]) -> None:
        self.problems = [error if isinstance(error, SettingError) else str(error) for error in errors]
        self.errors = [str(error) for error in errors]
        super().__init__("; ".join(self.errors))


# --- Contrast (WCAG 2.2 relative luminance) ---------------------------------------


def parse_colour(value: str) -> tuple[int, int, int]:
    """``#rgb`` or ``#rrggbb`` as an (r, g, b) tuple of 0–255."""
    if not isinstance(value, str) or not HEX_COLOUR.fullmatch(value):
        raise ValueError(value)
    digits = value[1:]
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def relative_luminance(colour: str) -> float:
    """WCAG's relative luminance: sRGB channels linearized, weighted 0.2126/0.7152/0.0722."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(channel) for channel in parse_colour(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """(L1 + 0.05) / (L2 + 0.05), lighter over darker: from 1 (same) to 21 (black on white)."""
    one, two = relative_luminance(first), relative_luminance(second)
    lighter, darker = max(one, two), min(one, two)
    return (lighter + 0.05) / (darker + 0.05)


def _format_ratio(ratio: float) -> str:
    """The ratio as the reader writes numbers ("1.60:1", "1,60:1"). Truncated, not rounded:
    4.497 must not read as the 4.5 it fails to reach."""
    return f"{number_format(Decimal(int(ratio * 100)) / 100, 2)}:1"


def _format_minimum(minimum: float) -> str:
    return f"{number_format(Decimal(f'{minimum:g}'))}:1"


# --- Parsing -----------------------------------------------------------------


@dataclass(frozen=True)
class Palette:
    primary: str
    primary_text: str
    background: str
    text: str

    def error_colour(self) -> str:
        """An error colour that reads on this background (red when one does)."""
        for candidate in ("#b42318", "#8a1c13", "#ff8f85", "#ffb4ab"):
            if contrast_ratio(candidate, self.background) >= TEXT_CONTRAST:
                return candidate
        return self.text


@dataclass(frozen=True)
class Theme:
    light: Palette
    dark: Palette | None
    font: str
    radius: int | None
    logo: str
    custom_css: str

    @cached_property
    def stylesheet_digest(self) -> str:
        """Part of the stylesheet's URL, which is cached for a year: a new theme, or a
        change to ``stylesheet()`` itself, is a new address."""
        return hashlib.sha256(self.stylesheet().encode()).hexdigest()[:16]

    def stylesheet(self) -> str:
        """The CSS that applies this theme to the element with class ``theme-root``."""
        lines = [
            "/* PromptLab template theme: generated from the version's theme settings. */",
            ".theme-root {",
            *_palette_properties(self.light),
        ]
        if self.font:
            lines.append(f"  --font: {self.font};")
        if self.radius is not None:
            lines.append(f"  --radius: {self.radius}px;")
        lines += [
            "  font-family: var(--font);",
            "  color: var(--color-text);",
            "  background: var(--color-bg);",
            "  border-radius: var(--radius);",
            "  padding: 1.25rem 1.5rem;",
            "}",
            ".theme-root a { color: var(--color-text); }",
        ]
        if self.dark is not None:
            lines += [
                "@media (prefers-color-scheme: dark) {",
                "  .theme-root {",
                *("  " + line for line in _palette_properties(self.dark)),
                "  }",
                "}",
            ]
        if self.custom_css:
            # @scope keeps every selector inside the form's root; the checks in
            # check_custom_css make sure the block cannot be closed early.
            lines += ["@scope (.theme-root) {", self.custom_css, "}"]
        return "\n".join(lines) + "\n"


def _palette_properties(palette: Palette) -> list[str]:
    return [
        f"  --color-primary: {palette.primary};",
        f"  --color-primary-text: {palette.primary_text};",
        f"  --color-bg: {palette.background};",
        f"  --color-surface: {palette.background};",
        f"  --color-text: {palette.text};",
        f"  --color-muted: {palette.text};",
        f"  --color-border: {palette.text};",
        f"  --color-error: {palette.error_colour()};",
    ]


def parse_theme(data: Any) -> Theme | None:
    """The theme, or None for an empty one; raises ThemeError listing every problem."""
    if data in (None, {}):
        return None
    if not isinstance(data, dict):
        raise ThemeError([_("The theme must be an object of settings.")])
    if find_nul(data):  # PostgreSQL's jsonb can't hold it (a 500, for staff's custom CSS)
        raise ThemeError([_("The theme contains the NUL character (U+0000), which can't be stored.")])
    errors: list[str] = []
    unknown = sorted(set(data) - THEME_KEYS)
    if unknown:
        errors.append(_("Unknown theme setting(s): %(keys)s.") % {"keys": ", ".join(unknown)})
    light = _parse_palette(data, DEFAULT_LIGHT, _("light"), errors, prefix="")
    dark = None
    # A setting that is present must be of its type: `false` or `0` was taken for "not set"
    # and stored as sent, which the API then returned against its own schema.
    if "dark" in data and data["dark"] != {}:
        raw_dark = data["dark"]
        if not isinstance(raw_dark, dict):
            errors.append(_("The dark palette must be an object of colours."))
        else:
            bad = sorted(set(raw_dark) - set(COLOUR_KEYS))
            if bad:
                errors.append(_("Unknown dark palette setting(s): %(keys)s.") % {"keys": ", ".join(bad)})
            dark = _parse_palette(
                raw_dark, {**DEFAULT_LIGHT, **_dict_of(light)}, _("dark"), errors, prefix="dark_"
            )
    font_errors: list[str] = []
    font = _parse_font(data.get("font", ""), font_errors)
    errors += [SettingError(error, "font") for error in font_errors]
    radius = data.get("radius")
    if "radius" in data and (
        isinstance(radius, bool) or not isinstance(radius, int) or not 0 <= radius <= MAX_RADIUS
    ):
        errors.append(
            _("Corner radius must be a whole number of pixels from 0 to %(max)d.") % {"max": MAX_RADIUS}
        )
    logo = data.get("logo", "")
    if "logo" in data and not (isinstance(logo, str) and LOGO_DIGEST.fullmatch(logo)):
        errors.append(_("Logo must be an uploaded image."))
    custom_css = data.get("custom_css", "")
    if not isinstance(custom_css, str):
        errors.append(_("Custom CSS must be text."))
        custom_css = ""
    errors += check_custom_css(custom_css)
    if errors:
        raise ThemeError(errors)
    assert light is not None
    return Theme(
        light=light,
        dark=dark,
        font=font,
        radius=radius,
        logo=logo,
        custom_css=custom_css.strip(),
    )


def _dict_of(palette: Palette | None) -> dict[str, str]:
    return {} if palette is None else {key: getattr(palette, key) for key in COLOUR_KEYS}


def _parse_palette(
    data: dict[str, Any], defaults: dict[str, str], scheme: str, errors: list[str], *, prefix: str
) -> Palette | None:
    """The palette's colours; each problem is told as the fault of one colour (``prefix`` +
    key): a bad value its own, a contrast too low one of the pair's that was set."""
    labels = {
        "primary": _("Primary colour"),
        "primary_text": _("Button text colour"),
        "background": _("Background colour"),
        "text": _("Text colour"),
    }
    colours: dict[str, str] = {}
    for key in COLOUR_KEYS:
        value = data.get(key, defaults[key])
        if not isinstance(value, str) or not HEX_COLOUR.fullmatch(value):
            message = _("%(setting)s (%(scheme)s) must be a colour like #1d4ed8, not “%(value)s”.")
            errors.append(
                SettingError(
                    message % {"setting": labels[key], "scheme": scheme, "value": value}, prefix + key
                )
            )
        else:
            colours[key] = value.lower()
    if len(colours) < len(COLOUR_KEYS):
        return None
    pairs = (
        ("text", "background", TEXT_CONTRAST, _("Text colour %(one)s on background %(two)s")),
        ("primary_text", "primary", TEXT_CONTRAST, _("Button text colour %(one)s on button colour %(two)s")),
        ("primary", "background", UI_CONTRAST, _("Button colour %(one)s against background %(two)s")),
    )
    for one, two, minimum, what in pairs:
        ratio = contrast_ratio(colours[one], colours[two])
        if ratio < minimum:
            message = _(
                "%(pair)s (%(scheme)s) has a contrast of %(ratio)s; WCAG AA needs at least %(minimum)s."
            ) % {
                "pair": what % {"one": colours[one], "two": colours[two]},
                "scheme": scheme,
                "ratio": _format_ratio(ratio),
                "minimum": _format_minimum(minimum),
            }
            # Told at a colour the author set (a dark palette inherits the ones it leaves out).
            at = one if one in data or two not in data else two
            errors.append(SettingError(message, prefix + at))
    return Palette(**colours)


def _parse_font(value: Any, errors: list[str]) -> str:
    if value == "":
        return ""
    if not isinstance(value, str):
        errors.append(_("Font must be one of the listed fonts or a list of font family names."))
        return ""
    if value in FONT_STACKS:
        return FONT_STACKS[value]
    if len(value) > MAX_FONT_LENGTH:
        errors.append(_("Font is limited to %(max)d characters.") % {"max": MAX_FONT_LENGTH})
        return ""
    families = [family.strip() for family in value.split(",")]
    if len(families) > MAX_FONT_FAMILIES or not all(FAMILY_NAME.match(family) for family in families):
        errors.append(
            _(
                "Font “%(value)s” is not allowed: give one of %(names)s, or font family names separated "
                "by commas (letters, digits, spaces and hyphens; quote names with spaces)."
            )
            % {"value": value[:80], "names": ", ".join(FONT_STACKS)}
        )
        return ""
    if families[-1].lower() not in GENERIC_FAMILIES:
        families.append("sans-serif")
    return ", ".join(families)


def check_custom_css(css: str) -> list[str]:
    """Problems that would let custom CSS load resources or leave its scope."""
    if not css.strip():
        return []
    if len(css.strip()) > MAX_CUSTOM_CSS:  # counted as kept: white space around it is dropped
        return [_("Custom CSS is limited to %(max)d characters.") % {"max": MAX_CUSTOM_CSS}]
    if "<" in css:
        # Never needed in CSS, and "</style>" would end a <style> element should the CSS
        # ever be inlined (the README promises it is refused).
        return [_("Custom CSS may not contain “<”.")]
    # Escapes are refused, so a string ends at its next quote. The forbidden
    # tokens are looked for in the raw text and with comments removed (u/**/rl( is
    # not url( to a browser, but refusing it costs nothing).
    without_comments = []
    depth, quote, index = 0, "", 0
    while index < len(css):
        char = css[index]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\n":
                return [_("Custom CSS has a string that is never closed.")]
        elif css.startswith("/*", index):
            # One scanner for strings and comments together: "/*" inside a string
            # opens no comment, and a quote inside a comment opens no string.
            close = css.find("*/", index + 2)
            if close < 0:
                return [_("Custom CSS has a comment that is never closed.")]
            index = close + 2
            continue
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                return [_("Custom CSS closes a brace it never opened.")]
        without_comments.append(char)
        index += 1
    found = FORBIDDEN_CSS.search(css) or FORBIDDEN_CSS.search("".join(without_comments))
    if found:
        return [
            _("Custom CSS may not use “%(found)s” (no imports, URLs or escapes).") % {"found": found.group(0)}
        ]
    if quote:
        return [_("Custom CSS has a string that is never closed.")]
    if depth:
        return [_("Custom CSS leaves a brace open.")]
    return []


def custom_css_errors(css: Any, *, author: Any, previous: Any = "") -> list[str]:
    """The one "custom CSS is staff-only" rule, for the model, the editor and import alike.

    Custom CSS can restyle the whole form, so only staff write it; anyone else may keep
    what staff wrote (``previous``, the CSS of the version being edited) or remove it.
    Compared as stored: white space around it is dropped."""
    kept = css.strip() if isinstance(css, str) else ""
    before = previous.strip() if isinstance(previous, str) else ""
    if kept and kept != before and not getattr(author, "is_staff", False):
        return [_("Only staff can add or change custom CSS.")]
    return []


# --- Logo --------------------------------------------------------------------


def sniff_logo(data: bytes) -> str:
    """The image type of an uploaded logo (PNG, JPEG or WebP), or "" for anything else.

    SVG is refused on purpose: it is a document that can carry script.
    """
    for magic, content_type in LOGO_TYPES:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


def logo_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
