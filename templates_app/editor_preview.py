"""The editor's live preview (htmx, as one types): the form the schema makes, in either
language, what the prompt uses that the schema lacks, and a workflow's steps in the order
they run (stages of steps that run at the same time, as a list).

The same context serves the editor pages (the site's and the admin's) and the htmx
fragment, so the first render and every update agree."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import get_language

from .editor import parse_schema_text
from .forms import parameter_fields_html, parameter_form_class
from .models import TemplateVersion
from .rendering import PromptRenderError, referenced_names
from .schema import ParameterSchema, SchemaError, parameter_warnings
from .steps_text import CheckedSteps, check_steps, parse_steps_text, step_levels

PREVIEW_LANGUAGES = (("en", "English"), ("pt-br", "Português"))


def preview_language(request: HttpRequest) -> str:
    wanted = request.POST.get("preview_language") or get_language() or "en"
    codes = [code for code, _name in PREVIEW_LANGUAGES]
    return wanted if wanted in codes else "en"


def preview_context(
    request: HttpRequest, *, prefix: str, base: TemplateVersion | None = None, data: Any = None
) -> dict[str, Any]:
    """The live preview's context, for the editor pages and the htmx preview alike:
    the schema, body and system prompt posted under ``prefix``, or on a GET the
    ``base`` version's (nothing for a new template). ``data`` is the form's, where it
    differs from the POST (a parameter added by the preview's button)."""
    if request.method == "POST":

        def posted(name: str) -> str:
            return (data or request.POST).get(f"{prefix}-{name}" if prefix else name, "")

        fmt = "json" if posted("schema_format") == "json" else "yaml"
        parameters, problems = parse_schema_text(posted("schema"), fmt)
        sources: tuple[str, ...] = (posted("body"), posted("system_prompt"))
        steps = parse_steps_text(
            posted("steps"), fmt, parameters=parameters, result_step=posted("result_step")
        )
    elif base is not None:
        parameters, problems, sources = base.parameters, [], (base.body, base.system_prompt)
        steps = check_steps(base.steps, parameters=base.parameters, result_step=base.result_step)
    else:
        parameters, problems, sources = [], [], ()
        steps = check_steps([], parameters=[])
    return _render_preview(parameters, problems, preview_language(request), sources=sources, steps=steps)


def prompt_names(*sources: str) -> set[str] | None:
    """The variables the prompt texts read (the sandbox's own Jinja parser finds them);
    None when a text does not parse (saving says why, at that text)."""
    try:
        return set().union(*(referenced_names(source or "") for source in sources))
    except PromptRenderError:
        return None


def missing_parameters(parameters: list[Any], *sources: str) -> list[str]:
    """The names the prompt uses that the schema does not define, as the author types."""
    used = prompt_names(*sources)
    if not used:
        return []
    try:
        defined = ParameterSchema.parse(parameters).names
    except SchemaError:
        return []
    return sorted(used - defined)


def _render_preview(
    parameters: list[Any],
    problems: list[str],
    language: str,
    *,
    sources: tuple[str, ...] = (),
    steps: CheckedSteps | None = None,
) -> dict[str, Any]:
    fields_html = ""
    warnings: list[str] = []
    missing: list[str] = []
    steps = steps or CheckedSteps()
    if not problems:
        if any(sources) or steps.graph is not None:
            # A workflow's steps read parameters too (steps with problems: their errors say
            # more). The names only steps may read (steps, inputs, item) are the graph's to
            # check, so "missing" looks at the prompts alone.
            read = steps.graph.parameters_read() if steps.graph is not None else set()
            if not steps.problems:
                warnings = parameter_warnings(parameters, *sources, also_read=read)
            missing = missing_parameters(parameters, *sources)
        # An unsaved version: the form layer keys everything by the schema's content.
        draft = TemplateVersion(parameters=parameters)
        with translation.override(language):
            form = parameter_form_class(draft, language)()
            fields_html = parameter_fields_html(draft, language, form)
    return {
        "preview_problems": problems,
        "preview_missing": missing,
        "preview_warnings": warnings,
        "preview_fields_html": fields_html,
        "preview_language": language,
        "preview_languages": PREVIEW_LANGUAGES,
        "preview_steps": bool(steps.steps or steps.problems),
        "preview_step_problems": [problem.message for problem in steps.problems],
        "preview_step_levels": step_levels(steps.graph) if steps.graph is not None else [],
    }
