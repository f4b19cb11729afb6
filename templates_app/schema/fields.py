"""Form fields and validators the schema needs beyond Django's own.

Each rule here is the server half of a rule the browser also applies (see
``Parameter.html_attrs``) and JSON Schema also states (``Parameter.to_json_schema``):
the regular expressions are shared strings, and numbers are compared as decimals,
as browsers do, so that 0.3 is a multiple of 0.1 everywhere.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import PurePath
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import (
    EmailValidator,
    ProhibitNullCharactersValidator,
    StepValueValidator,
    URLValidator,
)
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from promptlab.safe_load import TooDeeplyNested, find_nul, load_json

from .regexes import full_match, json_schema_validator, matches

# The HTML standard's "valid email address" (what <input type=email> checks).
# Written so that browsers, which compile `pattern` with the `v` flag, accept it:
# inside a class, `-`, `/`, `{`, `|` and `}` are escaped.
EMAIL_PATTERN = (
    r"[a-zA-Z0-9.!#$%&'*+\/=?^_`\{\|\}~\-]+@[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?)*"
)
# An http(s) URL whose host is a name (the last label starts with a letter, so no
# browser reads it as an IP address). Every such string is also a URL to the
# browser's own parser, so the browser, the form and JSON Schema agree on it.
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?"
URL_PATTERN = (
    rf"https?://(?:{_LABEL}\.)*[a-zA-Z](?:[a-zA-Z0-9\-]{{0,61}}[a-zA-Z0-9])?(?::[0-9]{{1,4}})?"
    r"(?:[\/?#][!-~]*)?"
)
DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


def date_bound_pattern(bound: str, *, upper: bool) -> str:
    """A regular expression for YYYY-MM-DD texts on or after (or before) ``bound``.

    Such texts sort as their dates do, so "on or after" is "equal, or equal up to
    some digit that is larger, then anything": this lets JSON Schema, which can't
    compare dates, state a date range exactly.
    """
    alternatives = [bound]  # digits and "-" only: literal in every dialect
    for index, char in enumerate(bound):
        if char == "-" or char == ("0" if upper else "9"):
            continue
        digit = int(char)
        allowed = f"[0-{digit - 1}]" if upper else f"[{digit + 1}-9]"
        rest = "".join("-" if c == "-" else "[0-9]" for c in bound[index + 1 :])
        alternatives.append(f"{bound[:index]}{allowed}{rest}")
    return "|".join(alternatives)


@deconstructible
class FullMatchValidator:
    """The value must match the pattern as a whole (not just contain a match)."""

    def __init__(self, pattern: str, message: Any, code: str = "invalid") -> None:
        self.regex = full_match(pattern)
        self.message = message
        self.code = code

    def __call__(self, value: str) -> None:
        if not matches(self.regex, value):  # a check that runs out of time fails
            raise ValidationError(self.message, code=self.code)


class DecimalStepValidator(StepValueValidator):
    """A multiple of the step, computed in decimal: 0.3 is a multiple of 0.1."""

    def compare(self, a: Any, b: Any) -> bool:
        try:
            return Decimal(str(a)) % Decimal(str(b)) != 0
        except InvalidOperation:
            return True


class ItemCountValidator:
    """At least / at most so many choices ticked."""

    def __init__(self, limit: int, *, most: bool) -> None:
        self.limit = limit
        self.most = most

    def __call__(self, value: list[str]) -> None:
        if self.most and len(value) > self.limit:
            message = ngettext_lazy(
                "Choose at most %(limit)d option.", "Choose at most %(limit)d options.", "limit"
            )
            raise ValidationError(message, code="max_items", params={"limit": self.limit})
        if not self.most and len(value) < self.limit:
            message = ngettext_lazy(
                "Choose at least %(limit)d option.", "Choose at least %(limit)d options.", "limit"
            )
            raise ValidationError(message, code="min_items", params={"limit": self.limit})


def unique_items(value: list[str]) -> None:
    """Each option once (a browser can't send one twice; JSON Schema says uniqueItems)."""
    if len(set(value)) != len(value):
        raise ValidationError(_("Choose each option only once."), code="unique")


class IntegerValueField(forms.IntegerField):
    """A whole number however the browser's number input may write it ("100",
    "1e2", "100.0"); "2.5" is not one."""

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        # Beyond 18 digits is refused outright: int() of "1e999999999" would take ages.
        if not number.is_finite() or number.adjusted() > 18 or number != number.to_integral_value():
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return int(number)


class PlainTextField(forms.CharField):
    """Text kept as typed (no stripping: the browser doesn't strip either), with
    line breaks counted as one character, as the browser's maxlength counts them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strip=False, **kwargs)

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        return text.replace("\r\n", "\n").replace("\r", "\n")


class EmailAddressField(PlainTextField):
    default_validators = [FullMatchValidator(EMAIL_PATTERN, EmailValidator.message)]


class WebAddressField(PlainTextField):
    default_validators = [FullMatchValidator(URL_PATTERN, URLValidator.message)]


class IsoDateField(forms.DateField):
    """A date typed YYYY-MM-DD (what <input type=date> submits); cleaned to that text."""

    input_formats = ["%Y-%m-%d"]

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value and not full_match(DATE_PATTERN).match(value):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)

    def clean(self, value: Any) -> str | None:
        cleaned = super().clean(value)
        return cleaned.isoformat() if cleaned else None


class JsonValueField(forms.CharField):
    """JSON typed as text; cleaned to the value, checked against an optional JSON Schema."""

    default_error_messages = {
        "invalid": _("Enter valid JSON."),
        "nested": _("The JSON is nested too deeply."),
        "schema": _("The value does not fit: %(problem)s"),
        "null_characters_not_allowed": ProhibitNullCharactersValidator.message,
        "endless_schema": _(
            "The value can't be checked: the parameter's schema refers to itself without end."
        ),
    }

    def __init__(self, *, json_schema: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.json_schema = json_schema

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        if text == "":
            return None
        try:
            parsed = load_json(text)
        except TooDeeplyNested:
            raise ValidationError(self.error_messages["nested"], code="invalid") from None
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if find_nul(parsed):  # a "\u0000" escape: PostgreSQL's jsonb refuses it
            raise ValidationError(
                self.error_messages["null_characters_not_allowed"], code="null_characters_not_allowed"
            )
        if self.json_schema is not None:
            from referencing.exceptions import Unresolvable

            try:
                error = next(iter(json_schema_validator(self.json_schema).iter_errors(parsed)), None)
            except Unresolvable as exc:  # a schema saved before references were checked
                raise ValidationError(
                    self.error_messages["schema"], code="schema", params={"problem": str(exc)}
                ) from None
            except RecursionError:  # one saved before endless references were refused
                raise ValidationError(self.error_messages["endless_schema"], code="schema") from None
            if error is not None:
                raise ValidationError(
                    self.error_messages["schema"], code="schema", params={"problem": error.message}
                )
        return parsed


class TextFileInput(forms.FileInput):
    """A file input that also takes the file's text directly (how the API sends it)."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        upload = files.get(name) if files else None
        if upload is not None:
            return upload
        value = data.get(name)
        return value if isinstance(value, str) else None

    def format_value(self, value: Any) -> None:
        return None  # a file input can't be pre-filled


class TextFileField(forms.Field):
    """A text file whose UTF-8 content becomes the value; size and extension limited."""

    widget = TextFileInput
    # PostgreSQL stores no NUL character, and no text file has one.
    default_validators = [ProhibitNullCharactersValidator()]
    default_error_messages = {
        "too_big": _("The file is too big: it may be at most %(limit)s bytes (this one has %(size)s)."),
        "extension": _("The file must end in %(extensions)s."),
        "encoding": _("The file must be UTF-8 text."),
    }

    def __init__(self, *, max_size: int, extensions: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_size = max_size
        self.extensions = extensions

    def to_python(self, value: Any) -> str:
        if value in self.empty_values:
            return ""
        if isinstance(value, str):
            size = len(value.encode("utf-8"))
            if size > self.max_size:
                raise ValidationError(
                    self.error_messages["too_big"],
                    code="too_big",
                    params={"limit": self.max_size, "size": size},
                )
            return value
        if not isinstance(value, UploadedFile):
            raise ValidationError(self.error_messages["encoding"], code="encoding")
        if self.extensions and PurePath(value.name or "").suffix.lower() not in self.extensions:
            raise ValidationError(
                self.error_messages["extension"],
                code="extension",
                params={"extensions": ", ".join(self.extensions)},
            )
        if value.size is not None and value.size > self.max_size:
            raise ValidationError(
                self.error_messages["too_big"],
                code="too_big",
                params={"limit": self.max_size, "size": value.size},
            )
        content = value.read(self.max_size + 1)
        if len(content) > self.max_size:
            raise ValidationError(
                self.error_messages["too_big"],
                code="too_big",
                params={"limit": self.max_size, "size": len(content)},
            )
        try:
            return content.decode("utf-8-sig").replace("\r\n", "\n")
        except UnicodeDecodeError:
            raise ValidationError(self.error_messages["encoding"], code="encoding") from None
