"""Which column feeds which parameter: by name or by label in any of the template's
languages, case and spacing aside, with a person's choices from the mapping step first."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping as MappingType
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from templates_app.schema import Parameter, ParameterSchema

from .tables import header_key


@dataclass
class Mapping:
    """``columns``: header → parameter name, in file order. ``unmatched_headers`` feed
    no parameter (they are kept in the results: ``extra``); ``missing_required`` and
    ``missing_optional`` are parameters no column feeds (the optional ones take their
    defaults). ``errors`` are the overrides that can't be applied."""

    columns: dict[str, str] = field(default_factory=dict)
    unmatched_headers: list[str] = field(default_factory=list)
    missing_required: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def extra(self) -> list[str]:
        return self.unmatched_headers

    @property
    def needs_mapping(self) -> bool:
        """Whether to show the mapping step: a required parameter has no column, or a
        column and a parameter are both left over (they may belong together)."""
        return bool(
            self.errors or self.missing_required or (self.unmatched_headers and self.missing_optional)
        )

    @property
    def is_complete(self) -> bool:
        """Rows can be validated: no override failed and every required parameter has a column."""
        return not self.errors and not self.missing_required

    def header_for(self, parameter: str) -> str | None:
        return next((header for header, name in self.columns.items() if name == parameter), None)

    def as_json(self) -> dict[str, str]:
        """What ``Batch.mapping`` keeps (header → parameter name)."""
        return dict(self.columns)


def match_key(text: str) -> str:
    """A header as matching compares it: ``header_key``, and accents aside, so that
    "Descricao" finds the label "Descrição" (people type headers without them)."""
    decomposed = unicodedata.normalize("NFD", header_key(text))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _texts(parameter: Parameter, language_codes: Sequence[str] | None) -> list[str]:
    label = parameter.label
    if isinstance(label, str):
        return [label]
    if language_codes is None:
        return list(label.values())
    wanted = {code.lower() for code in language_codes} | {
        code.lower().split("-")[0] for code in language_codes
    }
    return [text for language, text in label.items() if language.lower() in wanted]


def _keys(parameters: Sequence[Parameter], language_codes: Sequence[str] | None) -> dict[str, str | None]:
    """Spelling → parameter name, names before labels; a label two parameters share
    names neither (None), since choosing would be a guess."""
    keys: dict[str, str | None] = {}
    for parameter in parameters:
        for spelling in (parameter.name, parameter.name.replace("_", " ")):
            keys[match_key(spelling)] = parameter.name
    by_label: dict[str, str | None] = {}
    for parameter in parameters:
        for text in _texts(parameter, language_codes):
            key = match_key(text)
            if key in keys:
                continue
            by_label[key] = parameter.name if by_label.get(key, parameter.name) == parameter.name else None
    return {**by_label, **keys}


def map_columns(
    headers: Sequence[str],
    schema: ParameterSchema,
    language_codes: Sequence[str] | None = None,
    overrides: MappingType[str, str | None] | None = None,
) -> Mapping:
    """Map ``headers`` to the parameters a person fills (``schema.visible``).

    ``language_codes`` limits which labels count (None: every language the labels
    have). ``overrides`` ({header: parameter name, or "" / None for "not used"}), from
    a mapping step, win over matching by name."""
    parameters = schema.visible
    by_name = {parameter.name: parameter for parameter in parameters}
    result = Mapping()
    taken: dict[str, str] = {}  # parameter → header
    chosen: dict[str, str | None] = {}
    for header, name in (overrides or {}).items():
        if header not in headers:
            result.errors.append(_("The file has no column “%(header)s”.") % {"header": header})
        elif name and name not in by_name:
            result.errors.append(
                _("The template has no parameter “%(name)s” to fill from “%(header)s”.")
                % {"name": name, "header": header}
            )
        elif name and name in taken:
            result.errors.append(
                _("The columns “%(first)s” and “%(second)s” both fill “%(name)s”: choose one.")
                % {"first": taken[name], "second": header, "name": name}
            )
        else:
            chosen[header] = name or None
            if name:
                taken[name] = header
    keys = _keys(parameters, language_codes)
    fixed = {match_key(p.name): p.name for p in schema.parameters if p.hidden}
    for header in headers:
        if header in chosen:
            name = chosen[header]
        else:
            name = keys.get(match_key(header))
            if name is not None and name in taken:
                result.warnings.append(
                    _("The columns “%(first)s” and “%(second)s” both name “%(name)s”: “%(first)s” is used.")
                    % {"first": taken[name], "second": header, "name": name}
                )
                name = None
            elif name is None and match_key(header) in fixed:
                result.warnings.append(
                    _("The column “%(header)s” is not used: the template fixes that value.")
                    % {"header": header}
                )
        if name is None:
            result.unmatched_headers.append(header)
            continue
        taken[name] = header
        result.columns[header] = name
    # In file order (the overrides came in the mapping form's order).
    result.columns = {header: result.columns[header] for header in headers if header in result.columns}
    for parameter in parameters:
        if parameter.name in taken:
            continue
        takes_default = parameter.optional or parameter.default is not None
        (result.missing_optional if takes_default else result.missing_required).append(parameter.name)
    if result.unmatched_headers:
        result.warnings.append(
            _("Not used by the template (kept in the results): %(headers)s.")
            % {"headers": ", ".join(f"“{header}”" for header in result.unmatched_headers)}
        )
    return result
