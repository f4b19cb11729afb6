"""The errors of workflow steps: a definition that can't be saved, an answer that can't be used."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from templates_app.rendering import PromptRenderError


@dataclass(frozen=True)
class StepProblem:
    """One thing wrong with a definition: ``step`` is the step's name (None for the whole
    list: its shape, the result step), ``field`` the key concerned ("" for the step as a
    whole), ``message`` the translated text, which names the step."""

    step: str | None
    field: str
    message: str


class StepsInvalid(ValidationError):
    """A list of steps that can't be saved; ``errors`` holds every problem found, in order.

    A Django ValidationError of the messages, so a model's ``clean`` can put it under its
    ``steps`` field as it is."""

    def __init__(self, errors: list[StepProblem]) -> None:
        super().__init__([problem.message for problem in errors], code="steps")
        self.errors = errors


class StepOutputInvalid(ValueError):
    """A json step's answer is not JSON, or not JSON of the step's schema.

    ``detail`` is the first problem in plain English with its path ("$.items[2]: 3 is not
    of type 'string'"), meant for the model in a retry prompt; ``message`` (the exception's
    text) is the same for people, translated."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class TooManyItems(PromptRenderError):
    """A ``for_each`` gave more items than ``WORKFLOW_MAX_ITEMS`` (the step fails
    ``too_many_items``; any other render error of the list is a plain PromptRenderError)."""

    code = "too_many_items"


def where(step: str | None) -> str:
    """The prefix of a step's messages: “Step “outline””, or “Steps” for the list."""
    if step is None:
        return str(_("Steps"))
    return str(_("Step “%(name)s”") % {"name": step})
