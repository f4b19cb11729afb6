"""Text types: string, text, email, url, and file (a text file whose content is the value)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import fields as schema_fields
from ..regexes import full_match_source, pattern_problem
from .base import (
    ParameterType,
    Problems,
    is_int,
    json_type,
    localize,
    parse_counts,
    whole_pattern,
    with_nonempty,
)

if TYPE_CHECKING:
    from ..parameters import Parameter
    from ..regexes import PatternBudget

DEFAULT_MAX_SIZE = 100_000
DEFAULT_PATTERN_MESSAGE = gettext_lazy("Enter a value in the format asked for.")
EXTENSION_PATTERN = re.compile(r"^\.[a-z0-9][a-z0-9._-]{0,19}$")
# Regular-expression syntax Python knows but browsers' (JavaScript's) does not, or
# reads differently: refused, so a pattern means the same in the form and the page.
NON_PORTABLE_REGEX = re.compile(r"\(\?P|\(\?#|\(\?[aiLmsux-]+[):]|\\[AZz]|[*+?}][+]")
_CLASS_SYNTAX = frozenset("()[{}/|")
_DOUBLE_PUNCTUATORS = frozenset(c * 2 for c in "&!#$%*+,.:;<=>?@^`~")
_LENGTHS = frozenset({"min_length", "max_length"})
_PATTERN = frozenset({"pattern", "pattern_message"})
# The key a format's reader sets on a string property it knows to be multi-line text.
MULTILINE_MARK = "x-multiline"


def breaks_in_browsers(pattern: str) -> bool:
    """Whether browsers, which compile `pattern` with the `v` flag, would refuse it
    (and so silently not check it): inside a class, `( ) [ { } / |` and a `-` that
    is not a range must be escaped, and doubled punctuation is reserved."""
    in_class = False
    start = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if not in_class:
            if char == "[":
                in_class = True
                start = i + 2 if pattern[i + 1 : i + 2] == "^" else i + 1
                i = start
                continue
        elif char == "]" and i > start:
            in_class = False
        else:
            lone_dash = char == "-" and (i == start or pattern[i + 1 : i + 2] == "]")
            if lone_dash or char in _CLASS_SYNTAX or pattern[i : i + 2] in _DOUBLE_PUNCTUATORS:
                return True
        i += 1
    return False


def parse_pattern(pattern: Any, problems: Problems, budget: PatternBudget | None) -> str | None:
    if not isinstance(pattern, str) or not pattern:
        problems.add(_("“pattern” must be a regular expression."))
        return None
    # Checked with the engine that runs it (the form's validator uses regex, not re),
    # after the size check, since compiling an oversized pattern is itself the danger.
    problem = pattern_problem(pattern)
    if problem is None and budget is not None:
        problem = budget.compile_problem([full_match_source(pattern)])
    if problem is None and NON_PORTABLE_REGEX.search(pattern):
        problem = _(
            "“pattern” uses syntax browsers don't share (named groups as (?P…), inline flags, "
            "\\A, \\Z or possessive quantifiers); write it as a JavaScript regular expression would."
        )
    if problem is None and breaks_in_browsers(pattern):
        problem = _(
            "“pattern” would be ignored by browsers: inside [ ], escape - (unless it makes a "
            "range), /, |, (, ), [, { and } with a backslash."
        )
    if problem:
        problems.add(problem)
        return None
    return pattern


def json_pattern_to_ours(pattern: str) -> str:
    """JSON Schema patterns search; ours (as HTML's) must match the whole value."""
    whole = re.fullmatch(r"\^\(\?:(.*)\)\$", pattern, re.DOTALL)
    if whole:
        return whole.group(1)
    starts = pattern.startswith("^")
    ends = pattern.endswith("$") and not pattern.endswith("\\$")
    inner = pattern[1 if starts else 0 : -1 if ends else None]
    if "|" in inner:
        inner = f"(?:{inner})"
    return ("" if starts else ".*") + inner + ("" if ends else ".*")


def our_pattern_to_json(pattern: str) -> str:
    return f"^(?:{pattern})$" if "|" in pattern else f"^{pattern}$"


class TextType(ParameterType):
    """One or more lines of text, with lengths and (but for ``text``) a pattern."""

    keys = _LENGTHS | _PATTERN
    fields: ClassVar[dict[str, Any]] = {
        "min_length": None,
        "max_length": None,
        "pattern": None,
        "pattern_message": "",
    }
    keywords = (("min_length", "minLength"), ("max_length", "maxLength"))
    shows_placeholder = True
    field_class: ClassVar[type[forms.CharField]] = schema_fields.PlainTextField
    widget_class: ClassVar[type[forms.Widget]] = forms.TextInput
    # The type's own rule, besides the author's pattern: in the HTML pattern attribute
    # (where the input type doesn't check it), and in the JSON Schema.
    html_rule: ClassVar[str | None] = None
    schema_rule: ClassVar[str | None] = None
    lost_in_files: ClassVar[Any] = None
    unexported_keys = (("pattern_message", gettext_lazy("“pattern_message”")),)

    def parse(self, raw: dict[str, Any], problems: Problems, budget: PatternBudget | None) -> dict[str, Any]:
        values = parse_counts(raw, ("min_length", "max_length"), problems)
        if "pattern" in raw:
            values["pattern"] = parse_pattern(raw["pattern"], problems, budget)
        if "pattern_message" in raw and "pattern" not in raw:
            problems.add(_("“pattern_message” needs a “pattern”."))
        values["pattern_message"] = raw.get("pattern_message")
        return values

    def html_pattern(self, parameter: Parameter) -> str | None:
        """The pattern attribute: the author's, and the type's own rule where it has one."""
        if self.html_rule and parameter.pattern:
            # Both must hold; a lookahead joins them into the one attribute HTML allows.
            return f"(?=(?:{parameter.pattern})$)(?:{self.html_rule})"
        return self.html_rule or parameter.pattern

    def constraint_attrs(self, parameter: Parameter) -> dict[str, str]:
        attrs: dict[str, str] = {}
        if parameter.min_length is not None:
            attrs["minlength"] = str(parameter.min_length)
        if parameter.max_length is not None:
            attrs["maxlength"] = str(parameter.max_length)
        if pattern := self.html_pattern(parameter):
            attrs["pattern"] = pattern
        return attrs

    def form_field(
        self, parameter: Parameter, attrs: dict[str, str], common: dict[str, Any], language: str | None
    ) -> forms.Field:
        validators = []
        if parameter.pattern:
            message = localize(parameter.pattern_message, language) or DEFAULT_PATTERN_MESSAGE
            validators = [schema_fields.FullMatchValidator(parameter.pattern, message, code="pattern")]
        return self.field_class(
            widget=self.widget_class(attrs),
            validators=validators,
            min_length=parameter.min_length,
            max_length=parameter.max_length,
            **common,
        )

    def json_schema(self, parameter: Parameter) -> dict[str, Any]:
        optional = parameter.optional
        schema: dict[str, Any] = {"type": json_type("string", optional)}
        if parameter.max_length is not None:
            schema["maxLength"] = parameter.max_length
        patterns = [p for p in (self.schema_rule, parameter.pattern) if p]
        if pattern := whole_pattern(patterns, optional=optional):
            schema["pattern"] = pattern
        nonempty: dict[str, Any] = {"format": self.schema_format} if self.schema_format else {}
        # An empty text is "not given": a required one has at least one character.
        least = max(parameter.min_length or 0, 0 if optional else 1)
        if least:
            nonempty["minLength"] = least
        return with_nonempty(schema, nonempty, optional=optional, empty="")

    def to_property(self, parameter: dict[str, Any], lost: Any) -> dict[str, Any]:
        if self.lost_in_files:
            lost(self.lost_in_files)
        prop = super().to_property(parameter, lost)
        if "pattern" in parameter:
            prop["pattern"] = our_pattern_to_json(parameter["pattern"])
        return prop

    def claims(self, schema_type: Any, prop: dict[str, Any]) -> bool:
        return schema_type == "string" and prop.get("format") == self.schema_format

    def from_property(
        self, prop: dict[str, Any], parameter: dict[str, Any], warnings: list[str], where: str
    ) -> bool:
        nullable = super().from_property(prop, parameter, warnings, where)
        if "pattern" in prop:
            parameter["pattern"] = json_pattern_to_ours(str(prop.pop("pattern")))
        return nullable

    def sample(self, parameter: Parameter) -> Any:
        return "x" * max(parameter.min_length or 1, 1)


class StringType(TextType):
    name = "string"
    claim_order = 2  # after the types a string's format (or mark) names

    def claims(self, schema_type: Any, prop: dict[str, Any]) -> bool:
        # Any other format (a host name…) stays a string, and the format is reported as not imported.
        return schema_type == "string"


class MultilineTextType(TextType):
    name = "text"
    keys = _LENGTHS
    widget_class = forms.Textarea
    widget_attrs: ClassVar[dict[str, str]] = {"rows": "6"}
    lost_in_files = gettext_lazy("multi-line text becomes a single-line string")
    claim_order = 1  # before string: after the types a string's format names

    def claims(self, schema_type: Any, prop: dict[str, Any]) -> bool:
        # Files say "string", and a string it stays, but where a format's reader marks
        # it multi-line (Prompd's "text" type).
        return schema_type == "string" and prop.get(MULTILINE_MARK) is True


class EmailType(TextType):
    name = "email"
    schema_format = "email"
    field_class = schema_fields.EmailAddressField
    widget_class = forms.EmailInput
    widget_attrs: ClassVar[dict[str, str]] = {"autocapitalize": "off"}
    schema_rule = schema_fields.EMAIL_PATTERN

    def sample(self, parameter: Parameter) -> Any:
        return "someone@example.com"


class UrlType(TextType):
    name = "url"
    schema_format = "uri"
    field_class = schema_fields.WebAddressField
    widget_class = forms.URLInput
    widget_attrs: ClassVar[dict[str, str]] = {"autocapitalize": "off"}
    html_rule = schema_fields.URL_PATTERN
    schema_rule = schema_fields.URL_PATTERN

    def claims(self, schema_type: Any, prop: dict[str, Any]) -> bool:
        return schema_type == "string" and prop.get("format") in ("uri", "url")

    def sample(self, parameter: Parameter) -> Any:
        return "https://example.com/"


class FileType(ParameterType):
    name = "file"
    keys = frozenset({"max_size", "extensions"})
    fields: ClassVar[dict[str, Any]] = {"max_size": DEFAULT_MAX_SIZE, "extensions": ()}
    takes_files = True
    unexported_keys = (
        ("max_size", gettext_lazy("“max_size”")),
        ("extensions", gettext_lazy("“extensions”")),
    )

    def parse(self, raw: dict[str, Any], problems: Problems, budget: PatternBudget | None) -> dict[str, Any]:
        max_size = raw.get("max_size", DEFAULT_MAX_SIZE)
        if not is_int(max_size) or max_size < 1:
            problems.add(_("“max_size” must be a whole number of bytes, 1 or more."))
        if "default" in raw:
            problems.add(_("a file parameter can't have a default."))
        return {"max_size": max_size, "extensions": self._extensions(raw.get("extensions", []), problems)}

    @staticmethod
    def _extensions(raw: Any, problems: Problems) -> tuple[str, ...]:
        if not isinstance(raw, list) or not all(
            isinstance(item, str) and EXTENSION_PATTERN.match(item.lower()) for item in raw
        ):
            problems.add(_('“extensions” must be a list such as [".txt", ".md"].'))
            return ()
        return tuple(dict.fromkeys(item.lower() for item in raw))

    def constraint_attrs(self, parameter: Parameter) -> dict[str, str]:
        return {"accept": ",".join(parameter.extensions)} if parameter.extensions else {}

    def form_field(
        self, parameter: Parameter, attrs: dict[str, str], common: dict[str, Any], language: str | None
    ) -> forms.Field:
        field_kwargs = dict(common)
        limits = _("A text file of at most %(size)s.") % {"size": filesizeformat(parameter.max_size)}
        if parameter.extensions:
            limits += " " + _("Its name ends in %(extensions)s.") % {
                "extensions": ", ".join(parameter.extensions)
            }
        field_kwargs["help_text"] = " ".join(filter(None, [field_kwargs["help_text"], limits]))
        return schema_fields.TextFileField(
            max_size=parameter.max_size,
            extensions=parameter.extensions,
            widget=schema_fields.TextFileInput(attrs),
            **field_kwargs,
        )

    def json_schema(self, parameter: Parameter) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": json_type("string", parameter.optional),
            "contentMediaType": "text/plain",
        }
        if not parameter.optional:
            schema["minLength"] = 1
        # A character is at least one byte: this bounds the size; the API checks
        # the exact size in UTF-8 bytes.
        schema["maxLength"] = parameter.max_size
        return schema

    def to_property(self, parameter: dict[str, Any], lost: Any) -> dict[str, Any]:
        lost(_("a file upload becomes a text value"))
        return super().to_property(parameter, lost)
