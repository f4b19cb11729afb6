"""What every parameter type shares: the base class, and the small helpers its methods use.

A type is one subclass of ``ParameterType`` that knows, for its own parameters only:
which schema keys it takes and how to check them (``parse``, into its ``fields``), what
the form and the file formats need to know of it (the class attributes), the Django form field
(``form_field``) with the HTML constraint attributes the browser enforces
(``html_attrs``), the JSON value the API sends turned into form data (``form_data``),
the JSON Schema the API publishes (``json_schema``), the same keywords written into and
read back from a file format's property (``to_property`` / ``from_property``, through
the one ``keywords`` table), and a value that satisfies it (``sample``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from ..parameters import Parameter
    from ..regexes import PatternBudget

LocalizedText = str | dict[str, str]
# Every JSON type but null: "any JSON value that is given".
GIVEN_JSON_TYPES = ["string", "number", "boolean", "array", "object"]


class SchemaError(ValueError):
    """An authoring error in a parameter schema; ``errors`` lists each problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class Problems:
    """Collects a parameter's problems, each prefixed with the parameter's name."""

    def __init__(self, name: str) -> None:
        self.where = _("Parameter “%(name)s”") % {"name": name}
        self.errors: list[str] = []

    def add(self, message: str, **params: Any) -> None:
        self.errors.append(f"{self.where}: {message % params if params else message}")


@dataclass(frozen=True)
class Choice:
    value: str
    label: LocalizedText


def localize(text: LocalizedText | None, language: str | None = None) -> str:
    """Pick the text for a language ("pt-br" → "pt-br", then "pt"), falling back to English."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    language = (language or get_language() or "en").lower()
    for key in (language, language.split("-")[0], "en"):
        if key in text:
            return text[key]
    return next(iter(text.values()), "")


def number_text(value: float | int) -> str:
    """A number as HTML and people write it: 1, 0.5 (never 1.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    # YAML's .inf and JSON's 1e400 are floats too, but no form can hold them.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_localized_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    )


def json_type(name: str, optional: bool) -> str | list[str]:
    """The JSON Schema ``type`` of a parameter: ``null`` is "not given" for an optional one."""
    return [name, "null"] if optional else name


def whole_pattern(patterns: list[str], *, optional: bool) -> str | None:
    """One JSON Schema pattern that the whole value must match, for each of ``patterns``
    (lookaheads join them, as in the HTML pattern of a URL); an optional parameter's
    also matches "" (an empty field)."""
    if not patterns:
        return None
    *others, last = patterns
    if not others:
        return f"^(?:{last})?$" if optional else f"^(?:{last})$"
    body = "".join(f"(?=(?:{pattern})$)" for pattern in others) + f"(?:{last})"
    return f"^(?:{body})?$" if optional else f"^{body}$"


def with_nonempty(
    schema: dict[str, Any], nonempty: dict[str, Any], *, optional: bool, empty: Any
) -> dict[str, Any]:
    """``schema`` with the keywords only a given value must meet (a format, a least
    length): beside the rest for a required parameter; for an optional one, whose empty
    value (an empty field) fails them, as the one alternative to that empty value."""
    if nonempty and optional:
        schema["anyOf"] = [{"const": empty}, nonempty]
    else:
        schema.update(nonempty)
    return schema


def parse_counts(raw: dict[str, Any], keys: tuple[str, str], problems: Problems) -> dict[str, Any]:
    """A (least, most) pair of counts such as min_length/max_length: whole numbers of 0
    or more, the first not above the second."""
    values: dict[str, Any] = {}
    for key in keys:
        value = raw.get(key)
        if value is not None and (not is_int(value) or value < 0):
            problems.add(_("“%(key)s” must be a whole number of 0 or more."), key=key)
        else:
            values[key] = value
    low, high = (values.get(key) for key in keys)
    if low is not None and high is not None and low > high:
        problems.add(_("“%(low)s” is above “%(high)s”."), low=keys[0], high=keys[1])
    return values


class ParameterType:
    """One parameter type. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str]
    keys: ClassVar[frozenset[str]] = frozenset()  # the schema keys this type adds to the common ones
    # The values ``parse()`` returns, read on a ``Parameter`` as attributes, with their defaults.
    fields: ClassVar[dict[str, Any]] = {}
    # Our key → the JSON Schema keyword that says the same (a file format's and the API's).
    keywords: ClassVar[tuple[tuple[str, str], ...]] = ()
    # The JSON Schema type and format of a given value.
    schema_type: ClassVar[str] = "string"
    schema_format: ClassVar[str | None] = None
    # Whether the HTML control shows a placeholder, and whether a file's examples become one.
    shows_placeholder: ClassVar[bool] = False
    examples_are_placeholders: ClassVar[bool] = True
    # HTML attributes every control of this type has.
    widget_attrs: ClassVar[dict[str, str]] = {}
    always_optional: ClassVar[bool] = False
    # Which type reads a file's property first, when several could (see ``claims``).
    claim_order: ClassVar[int] = 0
    # Whether a value is an uploaded file (the form then needs multipart encoding).
    takes_files: ClassVar[bool] = False
    # Our keys no file format has a place for: (key, how a warning names it).
    unexported_keys: ClassVar[tuple[tuple[str, Any], ...]] = ()
    # What a format that knows only JSON Schema's own keywords loses of ``keywords`` (None:
    # they all are JSON Schema's own).
    lost_without_extension_keywords: ClassVar[Any] = None
    # Whether the file property is the author's own JSON Schema, which a format that can't
    # hold a schema loses whole.
    property_is_a_schema: ClassVar[bool] = False

    # --- parse ------------------------------------------------------------------
    def parse(self, raw: dict[str, Any], problems: Problems, budget: PatternBudget | None) -> dict[str, Any]:
        """The type's own values for ``Parameter``, from the raw schema entry; each
        problem goes to ``problems``."""
        return {}

    def check_default(self, parameter: Parameter, problems: Problems) -> None:
        """The default must pass the very field that will validate a person's input."""
        field = parameter.to_form_field("en")
        try:
            field.clean(self.form_data(parameter, parameter.default, field))
        except ValidationError as exc:
            problems.add(
                _("the default %(default)r breaks its own constraints (%(problem)s)"),
                default=parameter.default,
                problem=" ".join(exc.messages),
            )

    # --- the form ---------------------------------------------------------------
    def html_attrs(self, parameter: Parameter, language: str | None) -> dict[str, str]:
        attrs = self.constraint_attrs(parameter)
        if parameter.placeholder and self.shows_placeholder:
            attrs["placeholder"] = localize(parameter.placeholder, language)
        attrs.update(self.widget_attrs)
        return attrs

    def constraint_attrs(self, parameter: Parameter) -> dict[str, str]:
        """The constraint attributes the browser enforces (``required`` is added by
        Django from the same ``required``)."""
        return {}

    def initial(self, parameter: Parameter) -> Any:
        return parameter.default

    def form_field(
        self, parameter: Parameter, attrs: dict[str, str], common: dict[str, Any], language: str | None
    ) -> forms.Field:
        """The Django form field; ``common`` holds the keyword arguments every field takes
        (label, help text, required, initial)."""
        raise NotImplementedError

    def form_data(self, parameter: Parameter, value: Any, field: forms.Field) -> Any:
        """A JSON value as the form receives it from a browser; ValidationError for a
        value of the wrong JSON type (the form's own message where it has one)."""
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValidationError(_("Enter text."), code="invalid")
        return value

    # --- JSON Schema --------------------------------------------------------------
    def keyword_values(self, parameter: Parameter) -> dict[str, Any]:
        """The ``keywords`` table read on a parsed parameter."""
        values = {theirs: getattr(parameter, ours) for ours, theirs in self.keywords}
        return {key: value for key, value in values.items() if value is not None}

    def json_schema(self, parameter: Parameter) -> dict[str, Any]:
        """The property the API publishes: type, format and bounds side by side, with
        ``null`` (and the type's empty value) allowed for an optional parameter."""
        schema: dict[str, Any] = {"type": json_type(self.schema_type, parameter.optional)}
        if self.schema_format:
            schema["format"] = self.schema_format
        schema.update(self.keyword_values(parameter))
        return schema

    def to_property(self, parameter: dict[str, Any], lost: Any) -> dict[str, Any]:
        """A file format's property for one of our (raw) parameters; ``lost(what)``
        reports what it can't say."""
        prop: dict[str, Any] = {"type": self.schema_type}
        if self.schema_format:
            prop["format"] = self.schema_format
        prop.update({theirs: parameter[ours] for ours, theirs in self.keywords if ours in parameter})
        return prop

    def claims(self, schema_type: Any, prop: dict[str, Any]) -> bool:
        """Whether a file format's property (its type already read) is of this type."""
        return False

    def from_property(
        self, prop: dict[str, Any], parameter: dict[str, Any], warnings: list[str], where: str
    ) -> bool:
        """Move what this type reads from ``prop`` into our ``parameter`` (what is left in
        ``prop`` is reported as not imported); True when the property allows null (so
        the parameter may be left out)."""
        if self.schema_format:
            prop.pop("format", None)
        for ours, theirs in self.keywords:
            if theirs in prop:
                parameter[ours] = prop.pop(theirs)
        return False

    # --- trial renders --------------------------------------------------------------
    def sample(self, parameter: Parameter) -> Any:
        """A value that satisfies the constraints (the default is used before this)."""
        return "x"
