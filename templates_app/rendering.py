"""Prompt bodies are Jinja2 templates rendered in a bounded sandbox.

An author's template sees only the validated inputs: attribute access to
Python internals (``__class__``, ``__globals__`` …) raises instead of leaking,
and an undefined name is an error rather than an empty string. Every render
(on save, on sample inputs; on submit, from the form or the API) is bounded in
time, memory and size: ``sandbox`` refuses the work it can foresee and
``isolation`` runs it in a child process that is killed when it runs too long.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from . import isolation, sandbox


class PromptRenderError(ValueError):
    """The prompt body could not be parsed or rendered; the message says why."""


def render_limits() -> sandbox.Limits:
    return sandbox.Limits(
        seconds=settings.RENDER_TIMEOUT,
        memory_mb=settings.RENDER_MEMORY_MB,
        max_output=settings.RENDER_MAX_OUTPUT,
        max_range=settings.RENDER_MAX_RANGE,
        max_digits=settings.RENDER_MAX_DIGITS,
    )


def render_prompt(source: str, inputs: dict[str, Any]) -> str:
    if not source:
        return ""
    return _in_child(("render", source, inputs))


def referenced_names(source: str) -> set[str]:
    """The variables a body reads from its context (its parameters).

    Found in a render process too: Jinja's code generator, which finds them, also
    evaluates filter calls on literals (constant folding), so a body could make the
    web process run any amount of work without rendering anything."""
    if not source:
        return set()
    return set(_in_child(("referenced_names", source)))


def evaluate_expression(source: str, context: dict[str, Any]) -> Any:
    """The value of a Jinja expression (a workflow step's transform, ``when``, ``for_each``)
    over ``context``, as JSON data; raises PromptRenderError as a render does."""
    return _in_child(("evaluate", source, context))


def analyze_sources(sources: list[tuple[str, bool]]) -> list[dict[str, Any] | str]:
    """For each ``(source, is_expression)``, what it reads (``names``: its context's
    variables; ``steps`` and ``inputs``: the names it reads as ``steps.x`` and ``inputs.x``)
    or, as a text for people, why it does not compile. All in one request to a render
    process; a refusal of the request itself (a limit) raises PromptRenderError."""
    if not sources:
        return []
    answers = _in_child(("analyze", sources))
    return [_describe_refusal(answer) if "error" in answer else answer for answer in answers]


def _in_child(request: tuple[Any, ...]) -> Any:
    try:
        return isolation.run(request, render_limits(), settings.RENDER_PROCESSES)
    except isolation.Refused as exc:
        raise PromptRenderError(_describe_refusal(exc.answer)) from None
    except isolation.IsolationError as exc:
        raise PromptRenderError(limit_message(exc.limit, exc.value)) from None


def limit_message(limit: str, value: float) -> str:
    """The refusal of a render that reached a limit, naming the limit and its value."""
    messages = {
        "seconds": _("Rendering stopped: it took longer than the time limit of %(value)s seconds."),
        "memory_mb": _("Rendering stopped: it needed more than the memory limit of %(value)s MB."),
        "max_output": _(
            "Rendering stopped: the text would be longer than the limit of %(value)s characters "
            "(for the output and for any text or list built on the way)."
        ),
        "max_range": _("Rendering stopped: range() may give at most %(value)s items."),
        "max_digits": _("Rendering stopped: a number may have at most %(value)s digits."),
        "recursion": _("Rendering stopped: expressions, blocks or calls nest more than %(value)s deep."),
        "busy": _("Rendering is busy with other requests; try again in a moment."),
    }
    message = messages.get(limit, _("Rendering stopped unexpectedly."))
    shown = f"{value:g}" if isinstance(value, float) else value
    return message % {"value": shown}


def _describe_refusal(answer: dict[str, Any]) -> str:
    if answer["error"] == "limit":
        return limit_message(answer["limit"], answer["value"])
    return _with_line(answer.get("message") or "", answer.get("line"))


def _with_line(message: str, line: int | None) -> str:
    if line:
        return _("%(message)s (line %(line)d)") % {"message": message, "line": line}
    return message
