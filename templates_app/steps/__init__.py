"""Workflow steps: a template version's ``steps``, run instead of its prompt body.

``StepGraph.parse`` checks a definition (every error names its step) and gives the
canonical form (``to_data``), the order (``levels``) and each step's reach
(``needs_closure``). A ``Step`` renders its prompt, evaluates its transform, its
``when`` and its ``for_each`` in the render sandbox, and reads a model's answer
(``parse_output``). Running steps is the engine's (``jobs.workflows``)."""

from __future__ import annotations

from .context import StepContext
from .definition import DEFAULT_PARALLEL, MAX_PARALLEL, MODEL_SETTING_KEYS
from .errors import StepOutputInvalid, StepProblem, StepsInvalid, TooManyItems
from .graph import StepGraph
from .kinds import STEP_KINDS, PromptStep, Step, StepKind, TransformStep

__all__ = [
    "DEFAULT_PARALLEL",
    "MAX_PARALLEL",
    "MODEL_SETTING_KEYS",
    "STEP_KINDS",
    "PromptStep",
    "Step",
    "StepContext",
    "StepGraph",
    "StepKind",
    "StepOutputInvalid",
    "StepProblem",
    "StepsInvalid",
    "TooManyItems",
    "TransformStep",
]
