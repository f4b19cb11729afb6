"""How a job's answer and inputs are shown on its page.

The model's output is untrusted text. It is rendered as Markdown with raw HTML
turned off (markdown-it escapes any tag it meets), and the HTML that comes out
is then cleaned by a real sanitizer (nh3, the Ammonia library) with a short
list of tags and URL schemes: a renderer's bug or a ``javascript:`` link never
reaches the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import nh3
from django.core.exceptions import ValidationError
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from markdown_it import MarkdownIt

from templates_app.models import TemplateVersion
from templates_app.schema.types.base import localize

# CommonMark plus GitHub's tables and strikethrough; ``html`` off: tags in the text stay text.
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

ANSWER_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ANSWER_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "td": {"align"}, "th": {"align"}}
# No images: a model could be made to write a tracking pixel (and the CSP allows none).
ANSWER_URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str) -> SafeString:
    """The answer as sanitized HTML."""
    html = _markdown.render(text)
    clean = nh3.clean(
        html,
        tags=ANSWER_TAGS,
        attributes=ANSWER_ATTRIBUTES,
        url_schemes=ANSWER_URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )
    return mark_safe(clean)  # noqa: S308 - sanitized by nh3 just above


@dataclass(frozen=True)
class InputShown:
    name: str
    label: str
    value: str


def _display_value(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, indent=2)
    return str(value)


def inputs_shown(version: TemplateVersion, inputs: dict[str, Any], language: str) -> list[InputShown]:
    """The values a job ran with, labelled as its form labelled them (fixed, hidden values left out)."""
    shown = []
    for parameter in version.schema.visible:
        if parameter.name in inputs:
            label = localize(parameter.label, language) or parameter.name
            shown.append(InputShown(parameter.name, label, _display_value(inputs[parameter.name])))
    return shown


def form_initial(version: TemplateVersion, inputs: dict[str, Any]) -> dict[str, Any]:
    """A job's inputs as the run form's initial values, for "Run again" (files can't be refilled)."""
    form_class = version.schema.form_class()
    initial: dict[str, Any] = {}
    for parameter in version.schema.visible:
        if parameter.name not in inputs or parameter.kind.name == "file":
            continue
        try:
            initial[parameter.name] = parameter.form_data(
                inputs[parameter.name], form_class.base_fields[parameter.name]
            )
        except ValidationError:
            continue  # a value the schema no longer takes (the job ran an older version): left empty
    return initial
