"""Prompt bodies are Jinja2 templates rendered in a sandbox.

An author's template sees only the validated inputs: attribute access to
Python internals (``__class__``, ``__globals__`` …) raises instead of leaking,
and an undefined name is an error rather than an empty string.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.utils.translation import gettext as _
from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

_environment = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)


class PromptRenderError(ValueError):
    """The prompt body could not be parsed or rendered; the message says why."""


@lru_cache(maxsize=512)
def _compile(source: str):  # type: ignore[no-untyped-def]
    try:
        return _environment.from_string(source)
    except TemplateError as exc:
        raise PromptRenderError(_describe(exc)) from None


def render_prompt(source: str, inputs: dict[str, Any]) -> str:
    try:
        return _compile(source).render(inputs)
    except PromptRenderError:
        raise
    except TemplateError as exc:  # SecurityError and UndefinedError are TemplateErrors
        raise PromptRenderError(_describe(exc)) from None
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise PromptRenderError(str(exc)) from None


def referenced_names(source: str) -> set[str]:
    """The variables a body reads from its context (its parameters)."""
    try:
        return set(meta.find_undeclared_variables(_environment.parse(source)))
    except TemplateError as exc:
        raise PromptRenderError(_describe(exc)) from None


def _describe(exc: TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    message = exc.message or exc.__class__.__name__
    if line:
        return _("%(message)s (line %(line)d)") % {"message": message, "line": line}
    return message
