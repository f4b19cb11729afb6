"""A workflow's steps as authors and files hold them: YAML or JSON text, checked by the
step graph (``templates_app.steps``), and the order they run in, for the editor's preview.

The editor, the admin's editor, the API and the file formats all check steps here, so
each shows the same problems (every one names its step) and stores the same canonical
list (``StepGraph.to_data()``: a version whose steps were only re-typed is unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from .code_text import CodeTextError, dump_code_text, load_code_text
from .schema import ParameterSchema, SchemaError
from .steps import StepGraph, StepsInvalid

# A step's keys in the order a person reads them (and StepGraph.to_data() writes them);
# PostgreSQL's jsonb keeps no key order, so the stored order is no guide.
STEP_KEYS = (
    "name", "kind", "body", "system_prompt", "model_settings", "needs", "when", "for_each", "parallel",
    "output", "schema",
)  # fmt: skip
# What a key holds when a step does not say: left out of the text shown to authors and of
# files (the graph fills them in again, so nothing is lost).
STEP_DEFAULTS: dict[str, Any] = {
    "kind": "prompt",
    "system_prompt": "",
    "model_settings": {},
    "needs": [],
    "when": "",
    "for_each": "",
    "parallel": None,
    "output": "text",
    "schema": None,
}
MAX_STEPS_TEXT = 200_000


@dataclass(frozen=True)
class StepsProblem:
    """One problem with the steps: ``field`` is "result_step" when it is the result step's."""

    message: str
    field: str = "steps"


@dataclass
class CheckedSteps:
    """Steps as checked: canonical when they are valid (``graph`` set), else as given."""

    steps: list[Any] = field(default_factory=list)
    result_step: str = ""
    graph: StepGraph | None = None
    problems: list[StepsProblem] = field(default_factory=list)

    def messages(self, field_name: str) -> list[str]:
        return [problem.message for problem in self.problems if problem.field == field_name]


def readable_step(step: Any) -> Any:
    """A step with its keys in reading order and the defaults left out."""
    if not isinstance(step, dict):
        return step
    first = {key: step[key] for key in STEP_KEYS if key in step}
    rest = {key: value for key, value in step.items() if key not in first}
    shown = {
        key: value for key, value in first.items() if key not in STEP_DEFAULTS or value != STEP_DEFAULTS[key]
    }
    return shown | rest


def readable_steps(steps: list[Any]) -> list[Any]:
    return [readable_step(step) for step in steps or []]


def steps_to_text(steps: list[Any], fmt: str) -> str:
    if not steps:
        return ""
    return dump_code_text(readable_steps(steps), fmt)


def parameter_names(parameters: Any) -> set[str]:
    """The names the steps may read: the schema's, or while it has errors, the names it gives."""
    try:
        return set(ParameterSchema.parse(parameters).names)
    except (SchemaError, TypeError, AttributeError):
        if not isinstance(parameters, list):
            return set()
        return {p["name"] for p in parameters if isinstance(p, dict) and isinstance(p.get("name"), str)}


def check_steps(steps: Any, *, parameters: Any, result_step: str = "") -> CheckedSteps:
    """Check a list of steps (loaded from text, a file or a JSON request)."""
    result_step = (result_step or "").strip()
    checked = CheckedSteps(steps=steps if isinstance(steps, list) else [], result_step=result_step)
    if steps in (None, []) and not result_step:
        return checked
    try:
        graph = StepGraph.parse(
            [] if steps is None else steps,
            parameter_names=parameter_names(parameters),
            result_step=result_step,
        )
    except StepsInvalid as exc:
        checked.problems = [
            StepsProblem(str(problem.message), _field_of(problem.field)) for problem in exc.errors
        ]
        return checked
    checked.graph = graph
    checked.steps = graph.to_data()
    return checked


def _field_of(key: str) -> str:
    """Where a problem belongs: the result step's or the parameters' field, else the steps'."""
    return key if key in ("result_step", "parameters") else "steps"


def parse_steps_text(text: str, fmt: str, *, parameters: Any, result_step: str = "") -> CheckedSteps:
    """The steps from YAML or JSON text, checked; problems name the step (or say where the text breaks)."""
    if not text.strip():
        return check_steps([], parameters=parameters, result_step=result_step)
    try:
        data = load_code_text(
            text,
            fmt,
            max_length=MAX_STEPS_TEXT,
            too_long=str(_("The steps are limited to %(max)d characters.")),
            too_deep=str(_("The steps are nested too deeply.")),
        )
    except CodeTextError as exc:
        return CheckedSteps(result_step=result_step, problems=[StepsProblem(str(exc))])
    return check_steps([] if data is None else data, parameters=parameters, result_step=result_step)


# --- The order they run in (the editor's preview) -----------------------------------


@dataclass(frozen=True)
class StepOutline:
    """What the preview says of one step: what it is, what it waits for, how it runs."""

    name: str
    kind: str
    needs: tuple[str, ...]
    for_each: str
    parallel: int | None
    when: str
    output: str
    is_result: bool


@dataclass(frozen=True)
class StepLevel:
    """Steps that may run at the same time: each needs only steps of earlier levels."""

    number: int
    steps: tuple[StepOutline, ...]


def step_levels(graph: StepGraph) -> list[StepLevel]:
    levels = []
    for number, names in enumerate(graph.levels(), start=1):
        outlines = []
        for name in names:
            step = graph.step(name)
            outlines.append(
                StepOutline(
                    name=step.name,
                    kind=str(step.kind),
                    needs=tuple(step.needs),
                    for_each=step.for_each or "",
                    parallel=step.parallel,
                    when=step.when or "",
                    output=str(step.output),
                    is_result=step.name == graph.result_step,
                )
            )
        levels.append(StepLevel(number=number, steps=tuple(outlines)))
    return levels
