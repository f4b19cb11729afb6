"""The steps of a workflow version as a checked graph: parse, order, canonical form."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from templates_app.rendering import PromptRenderError, analyze_sources
from templates_app.schema.regexes import PatternBudget

from .context import CONTEXT_NAMES
from .definition import Problems, read_step, step_label
from .errors import StepProblem, StepsInvalid, where
from .kinds import Step


@dataclass(frozen=True)
class StepGraph:
    """Steps in the order written (their ``position``); ``result_step`` is resolved (the
    last step when the definition names none)."""

    steps: tuple[Step, ...]
    result_step: str

    @classmethod
    def parse(
        cls,
        data: list[dict[str, Any]],
        *,
        parameter_names: Collection[str],
        result_step: str = "",
        stored: bool = False,
    ) -> StepGraph:
        """Check a definition; raises StepsInvalid listing every problem, each naming its step.

        Every Jinja string is compiled in a render process and the names it reads are
        checked, as are the schemas' patterns. ``stored``: a definition read back from a
        version, checked when it was saved, whose strings and patterns are not compiled
        again and which today's step limit does not refuse (the graph is checked: cheap)."""
        problems: list[StepProblem] = []
        whole = Problems(None, where(None), problems)
        if not isinstance(data, list):
            whole.add(_("steps must be a list of steps."))
            raise StepsInvalid(problems)
        if not stored and len(data) > settings.WORKFLOW_MAX_STEPS:
            whole.add(_("a workflow may have at most %(max)d steps."), max=settings.WORKFLOW_MAX_STEPS)
            raise StepsInvalid(problems)
        reserved = sorted(CONTEXT_NAMES.intersection(parameter_names))
        if data and reserved:
            whole.on("parameters").add(
                _("in a workflow, %(names)s name what steps read: rename the parameter(s)."),
                names=", ".join(reserved),
            )
        steps: list[Step] = []
        seen: set[str] = set()
        budget = None if stored else PatternBudget()  # one for all the steps' schemas
        for index, raw in enumerate(data):
            step = read_step(raw, index, problems, budget)
            name, _label = step_label(raw, index)
            if name is not None and name in seen:
                problems.append(
                    StepProblem(name, "name", f"{where(name)}: {_('another step has the same name.')}")
                )
                step = None
            if name is not None:
                seen.add(name)
            if step is not None:
                steps.append(step)
        for step in steps:
            for need in step.needs:
                if need == step.name:
                    Problems(step.name, where(step.name), problems).on("needs").add(
                        _("a step can't need itself.")
                    )
                elif need not in seen:
                    Problems(step.name, where(step.name), problems).on("needs").add(
                        _("needs “%(need)s”, which is not a step."), need=need
                    )
        if result_step and (not isinstance(result_step, str) or result_step not in seen):
            whole.on("result_step").add(
                _("the result step “%(name)s” is not a step."), name=str(result_step)[:60]
            )
        cycles = _cycles(steps)
        for cycle in cycles:
            Problems(cycle[0], where(cycle[0]), problems).on("needs").add(
                _("its needs go round in a circle: %(cycle)s."), cycle=" → ".join([*cycle, cycle[0]])
            )
        # The strings of the steps that are well formed are checked even when others are
        # not (all problems at once); the closures are then those of the steps that exist.
        closures = _closures(steps)
        steps = [replace(step, closure=closures[step.name]) for step in steps]
        graph = cls(steps=tuple(steps), result_step=result_step or (steps[-1].name if steps else ""))
        if not stored and not cycles:
            graph._check_references(set(parameter_names), seen, problems)
        if problems:
            raise StepsInvalid(problems)
        return graph

    # --- reading ------------------------------------------------------------------------

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [step.name for step in self.steps]

    def needs_closure(self, name: str) -> frozenset[str]:
        """Every step ``name`` needs, directly or through others."""
        return self.step(name).closure

    def levels(self) -> list[list[str]]:
        """The steps in topological levels: a level's steps need only steps of earlier
        levels (so they can run in parallel); within a level, in the order written."""
        level_of: dict[str, int] = {}
        for step in self._in_dependency_order():
            level_of[step.name] = 1 + max((level_of[need] for need in step.needs), default=-1)
        levels: list[list[str]] = [[] for _level in range(max(level_of.values(), default=-1) + 1)]
        for step in self.steps:
            levels[level_of[step.name]].append(step.name)
        return levels

    def to_data(self) -> list[dict[str, Any]]:
        return [step.to_data() for step in self.steps]

    def _in_dependency_order(self) -> list[Step]:
        done: set[str] = set()
        ordered: list[Step] = []
        pending = list(self.steps)
        while pending:  # acyclic (parse checked), so each round settles at least one step
            ready = [step for step in pending if all(need in done for need in step.needs)]
            for step in ready:
                done.add(step.name)
                ordered.append(step)
            pending = [step for step in pending if step.name not in done]
        return ordered

    def parameters_read(self) -> set[str]:
        """The names the steps' strings read as bare names or as ``inputs.x`` (parameters,
        for the warnings about those nothing reads); one request to a render process."""
        sources = [(source, expression) for step in self.steps for _key, source, expression in _sources(step)]
        read: set[str] = set()
        for answer in analyze_sources(sources):
            if not isinstance(answer, str):
                read |= set(answer["names"]) | set(answer["inputs"])
        return read - {"inputs", "steps", "item", "item_index"}

    # --- references ---------------------------------------------------------------------

    def _check_references(self, parameters: set[str], steps: set[str], problems: list[StepProblem]) -> None:
        """Every Jinja string compiles and reads only what its step's context will hold."""
        sources = [
            (step, key, source, expression)
            for step in self.steps
            for key, source, expression in _sources(step)
        ]
        try:
            answers = analyze_sources([(source, expression) for _step, _key, source, expression in sources])
        except PromptRenderError as exc:
            Problems(None, where(None), problems).add(str(exc))
            return
        for (step, key, _source, _expression), answer in zip(sources, answers, strict=True):
            _check_source(
                step, key, answer, parameters, steps, Problems(step.name, where(step.name), problems).on(key)
            )


def _sources(step: Step) -> list[tuple[str, str, bool]]:
    """The step's Jinja strings: (key, source, whether it is an expression)."""
    sources = [("body", step.body, step.body_is_expression)]
    if step.system_prompt:
        sources.append(("system_prompt", step.system_prompt, False))
    sources += [(key, getattr(step, key), True) for key in ("when", "for_each") if getattr(step, key)]
    return sources


def _check_source(
    step: Step,
    key: str,
    answer: dict[str, Any] | str,
    parameters: set[str],
    steps: set[str],
    problems: Problems,
) -> None:
    if isinstance(answer, str):
        problems.add(_("“%(key)s” does not compile: %(problem)s"), key=key, problem=answer)
        return
    # ``item`` is one item's: the step's ``when`` and ``for_each`` are read once, before any.
    allowed = parameters | {"inputs", "steps"}
    if step.for_each and key in ("body", "system_prompt"):
        allowed |= {"item", "item_index"}
    unknown = sorted(set(answer["names"]) - allowed)
    unknown_inputs = sorted(set(answer["inputs"]) - parameters)
    if unknown or unknown_inputs:
        problems.add(
            _("“%(key)s” uses name(s) the schema does not define: %(names)s."),
            key=key,
            names=", ".join([*unknown, *(f"inputs.{name}" for name in unknown_inputs)]),
        )
    for name in answer["steps"]:
        if name not in steps:
            problems.add(_("“%(key)s” uses steps.%(name)s, which is not a step."), key=key, name=name)
        elif name == step.name:
            problems.add(_("“%(key)s” uses the step's own output (steps.%(name)s)."), key=key, name=name)
        elif name not in step.closure:
            problems.add(
                _("“%(key)s” uses steps.%(name)s, which this step does not need: add it to “needs”."),
                key=key,
                name=name,
            )


def _closures(steps: list[Step]) -> dict[str, frozenset[str]]:
    needs = {step.name: step.needs for step in steps}
    closures: dict[str, frozenset[str]] = {}

    def closure(name: str) -> frozenset[str]:
        if name not in closures:
            found: set[str] = set()
            stack = list(needs[name])
            while stack:  # no recursion; a need that is not a (valid) step has no needs of its own
                current = stack.pop()
                if current not in found and current != name:
                    found.add(current)
                    stack.extend(needs.get(current, ()))
            closures[name] = frozenset(found)
        return closures[name]

    for step in steps:
        closure(step.name)
    return closures


def _cycles(steps: list[Step]) -> list[list[str]]:
    """Each circle of needs once (as the names on it, from the first written), for the
    steps whose needs all exist (an unknown need is its own problem)."""
    needs = {step.name: [need for need in step.needs if need != step.name] for step in steps}
    position = {step.name: index for index, step in enumerate(steps)}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in needs:
        if start in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, next_index = stack.pop()
            if next_index == 0:
                state[node] = 1
                path.append(node)
            targets = [need for need in needs[node] if need in needs]
            if next_index < len(targets):
                stack.append((node, next_index + 1))
                target = targets[next_index]
                if state.get(target) == 1:
                    cycle = path[path.index(target) :]
                    first = min(range(len(cycle)), key=lambda i: position[cycle[i]])
                    cycles.append(cycle[first:] + cycle[:first])
                elif target not in state:
                    stack.append((target, 0))
            else:
                state[node] = 2
                path.pop()
    return cycles
