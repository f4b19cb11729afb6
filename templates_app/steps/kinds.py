"""The kinds of step: one small class each, with the same methods (see CONVENTIONS, "One
class per kind"). A ``prompt`` step asks a model; a ``transform`` step computes a value
from the inputs and earlier outputs with a Jinja expression, without a model."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from django.conf import settings
from django.utils.translation import gettext as _

from templates_app.rendering import PromptRenderError, evaluate_expression, render_prompt

from .context import StepContext
from .errors import TooManyItems, where
from .output import parse_json_output


class StepKind(StrEnum):
    PROMPT = "prompt"
    TRANSFORM = "transform"


@dataclass(frozen=True)
class Step:
    """One step, as ``StepGraph.parse`` checked it (its fields hold the canonical values)."""

    kind: ClassVar[str]
    # The keys of the definition this kind refuses (they would do nothing).
    refused_keys: ClassVar[frozenset[str]] = frozenset()
    # Whether ``body`` is a template (text with {{ … }}) or one Jinja expression.
    body_is_expression: ClassVar[bool] = False
    # Whether ``output: json`` means anything (a transform's value is JSON data already).
    may_output_json: ClassVar[bool] = True

    name: str
    body: str
    system_prompt: str = ""
    model_settings: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    when: str = ""
    for_each: str = ""
    parallel: int | None = None
    output: str = "text"
    schema: Any = None
    # Every step this one needs, directly or not: what its strings may read from ``steps``.
    closure: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def to_data(self) -> dict[str, Any]:
        """The canonical stored form (every key, in the documented order)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "body": self.body,
            "system_prompt": self.system_prompt,
            "model_settings": copy.deepcopy(self.model_settings),
            "needs": list(self.needs),
            "when": self.when,
            "for_each": self.for_each,
            "parallel": self.parallel,
            "output": self.output,
            "schema": copy.deepcopy(self.schema),  # the graph may be shared (cached): callers get their own
        }

    def _variables(self, context: StepContext, *, with_item: bool) -> dict[str, Any]:
        return context.variables(self.closure, with_item=with_item and bool(self.for_each))

    def render(self, context: StepContext) -> tuple[str, str]:
        """The (system prompt, prompt) of a prompt step (of one item, for a ``for_each``)."""
        raise TypeError(f"a {self.kind} step has no prompt")

    def evaluate(self, context: StepContext) -> Any:
        """The value of a transform step (of one item, for a ``for_each``): JSON data."""
        raise TypeError(f"a {self.kind} step is not evaluated")

    def condition_holds(self, context: StepContext) -> bool:
        """Whether the step's ``when`` is true (True when it has none)."""
        if not self.when:
            return True
        return bool(evaluate_expression(self.when, self._variables(context, with_item=False)))

    def should_skip(self, context: StepContext) -> bool:
        """The skip rule: every step it needs was skipped, or its ``when`` is false."""
        if self.needs and all(context.outputs.get(name, {}).get("skipped") for name in self.needs):
            return True
        return not self.condition_holds(context)

    def items(self, context: StepContext) -> list[Any]:
        """The items of a ``for_each`` step; raises PromptRenderError when the expression
        gives no list, TooManyItems when it gives more than ``WORKFLOW_MAX_ITEMS``."""
        if not self.for_each:
            raise TypeError("the step has no for_each")
        value = evaluate_expression(self.for_each, self._variables(context, with_item=False))
        if not isinstance(value, list):
            raise PromptRenderError(
                _("%(step)s: for_each must give a list; it gave %(value)s.")
                % {"step": where(self.name), "value": _describe(value)}
            )
        if len(value) > settings.WORKFLOW_MAX_ITEMS:
            raise TooManyItems(
                _("%(step)s: for_each gave %(count)d items; a step may run for at most %(max)d.")
                % {"step": where(self.name), "count": len(value), "max": settings.WORKFLOW_MAX_ITEMS}
            )
        return value

    def parse_output(self, text: str) -> Any:
        """The step's value from a model's answer: the text, or for ``output: json`` the
        parsed JSON (valid for the schema, if any); raises StepOutputInvalid."""
        if self.output == "json":
            return parse_json_output(text, self.schema)
        return text


def _describe(value: Any) -> str:
    if value is None:
        return _("nothing (None)")
    if isinstance(value, str):
        return _("a text")
    if isinstance(value, dict):
        return _("an object")
    return _("a single value (%(value)s)") % {"value": str(value)[:40]}


@dataclass(frozen=True)
class PromptStep(Step):
    kind: ClassVar[str] = StepKind.PROMPT.value

    def render(self, context: StepContext) -> tuple[str, str]:
        variables = self._variables(context, with_item=True)
        return render_prompt(self.system_prompt, variables), render_prompt(self.body, variables)


@dataclass(frozen=True)
class TransformStep(Step):
    kind: ClassVar[str] = StepKind.TRANSFORM.value
    refused_keys: ClassVar[frozenset[str]] = frozenset({"system_prompt", "model_settings"})
    body_is_expression: ClassVar[bool] = True
    may_output_json: ClassVar[bool] = False

    def evaluate(self, context: StepContext) -> Any:
        return evaluate_expression(self.body, self._variables(context, with_item=True))


STEP_KINDS: dict[str, type[Step]] = {kind.kind: kind for kind in (PromptStep, TransformStep)}
