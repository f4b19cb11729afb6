"""What the job page shows of a workflow run: its stages, steps and items, and totals.

The run's order is the step graph's topological levels: the steps of one level run in
parallel, each after the steps it needs. The page writes it as an ordered list of
stages ("Stage 2 — runs after outline; these run in parallel: …"), so the order and the
branches are read out, not only drawn. One ``StepShown`` per step (its ``JobStep``
row for the step as a whole), with the rows of a ``for_each`` step's items nested.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from .models import Job

# A step's status for people, in words (never by colour alone). The statuses are the
# engine's StepStatus values; a step is "it" in Portuguese ("etapa"), hence a context.
STEP_STATUS_LABELS: dict[str, Any] = {
    "waiting": pgettext_lazy("step status", "Waiting"),
    "running": pgettext_lazy("step status", "Running"),
    "skipped": pgettext_lazy("step status", "Skipped"),
    "succeeded": pgettext_lazy("step status", "Succeeded"),
    "failed": pgettext_lazy("step status", "Failed"),
    "cancelled": pgettext_lazy("step status", "Cancelled"),
}
TERMINAL_STEP_STATUSES = frozenset({"skipped", "succeeded", "failed", "cancelled"})
RETRYABLE_RUN_STATUSES = frozenset({"failed", "cancelled"})


def is_workflow_run(job: Job) -> bool:
    """A workflow's parent job (its parts, the step jobs, are ordinary jobs on the page)."""
    if getattr(job, "part_of_id", None) is not None:
        return False
    return bool(getattr(job.template_version, "is_workflow", False))


def item_of(row: Any) -> int | None:
    """A row's item, None for a step as a whole (the engine may store that as -1)."""
    item = getattr(row, "item", None)
    return None if item is None or item < 0 else item


def step_dom_id(name: str, item: int | None = None) -> str:
    # Step names are ^[a-z][a-z0-9_]*$: safe in an id as they are.
    return f"step-{name}" if item is None else f"step-{name}-{item}"


def step_rows(job: Job) -> list[Any]:
    """The run's JobStep rows in graph order, a whole step before its items."""
    if not hasattr(job, "steps"):
        return []
    prefetch_related_objects([job], "steps")  # once per job, however often it is asked
    rows = list(job.steps.all())
    return sorted(rows, key=lambda row: (row.position, -1 if item_of(row) is None else item_of(row)))


@dataclass
class StepShown:
    name: str
    item: int | None
    status: str
    output: str = ""
    error: str = ""
    error_code: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: Decimal | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    job_id: Any = None
    items: list[StepShown] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return step_dom_id(self.name, self.item)

    @property
    def status_label(self) -> str:
        return str(STEP_STATUS_LABELS.get(self.status, self.status))

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STEP_STATUSES

    @property
    def tokens_known(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None

    @property
    def seconds(self) -> float | None:
        """How long it ran (so far, while it runs)."""
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return max((end - self.started_at).total_seconds(), 0.0)

    @classmethod
    def of(cls, row: Any, output: str | None = None) -> StepShown:
        return cls(
            name=row.name,
            item=item_of(row),
            status=row.status,
            output=row.output if output is None else output,
            error=step_error(row),
            error_code=row.error_code or "",
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cost=row.cost,
            started_at=row.started_at,
            finished_at=row.finished_at,
            job_id=row.job_id,
        )


def step_error(row: Any) -> str:
    if not (row.error_code or row.error_message):
        return ""
    from .errors import describe_error

    return describe_error(row.error_code, row.error_message) if row.error_code else row.error_message


@dataclass
class Stage:
    number: int
    after: list[str]  # the steps of earlier stages that this stage's steps need
    steps: list[StepShown]


@dataclass
class WorkflowShown:
    stages: list[Stage]
    input_tokens: int
    output_tokens: int
    cost: Decimal | None
    unpriced: bool
    seconds: float | None

    @property
    def steps(self) -> list[StepShown]:
        return [step for stage in self.stages for step in stage.steps]


Key = tuple[str, int | None]  # a step's name and item (None: the step as a whole)


def shown_steps(rows: Iterable[Any], outputs: dict[Key, str] | None = None) -> list[StepShown]:
    """One StepShown per step, its items nested; ``outputs`` replaces a row's output (a
    running step's text so far, from Redis)."""
    outputs = outputs or {}
    wholes: dict[str, StepShown] = {}
    items: dict[str, list[StepShown]] = {}
    for row in rows:
        key = (row.name, item_of(row))
        shown = StepShown.of(row, outputs.get(key))
        if shown.item is None:
            wholes[row.name] = shown
        else:
            items.setdefault(row.name, []).append(shown)
    for name, nested in items.items():
        if name in wholes:
            wholes[name].items = sorted(nested, key=lambda s: s.item or 0)
    return list(wholes.values())


def _levels(job: Job, names: Sequence[str]) -> list[list[str]]:
    """The graph's levels, or one step a level (in position order) when the version's
    graph can't be read."""
    try:
        levels = [list(level) for level in job.template_version.step_graph.levels()]
    except Exception:  # a graph saved under older rules: the order alone still says a lot
        levels = []
    known = {name for level in levels for name in level}
    return levels + [[name] for name in names if name not in known]


def _needs(job: Job, name: str) -> tuple[str, ...]:
    try:
        return tuple(job.template_version.step_graph.step(name).needs)
    except Exception:
        return ()


def workflow_shown(job: Job, outputs: dict[Key, str] | None = None) -> WorkflowShown:
    by_name = {step.name: step for step in shown_steps(step_rows(job), outputs)}
    stages: list[Stage] = []
    for level in _levels(job, list(by_name)):
        # A step with no row yet (the engine makes them when the run starts) is waiting.
        in_level = [by_name.get(name) or StepShown(name=name, item=None, status="waiting") for name in level]
        if not in_level:
            continue
        after = sorted({need for step in in_level for need in _needs(job, step.name)})
        stages.append(Stage(number=len(stages) + 1, after=after, steps=in_level))
    steps = [step for stage in stages for step in stage.steps]
    rows = [s for s in steps if not s.items] + [i for s in steps for i in s.items]
    # Only prompt steps (those with a job) cost anything; a transform has no price to miss.
    costs = [s.cost for s in rows if s.job_id is not None and s.status == "succeeded"]
    elapsed = None
    if job.started_at:
        elapsed = ((job.finished_at or timezone.now()) - job.started_at) / timedelta(seconds=1)
    return WorkflowShown(
        stages=stages,
        input_tokens=sum(s.input_tokens or 0 for s in rows),
        output_tokens=sum(s.output_tokens or 0 for s in rows),
        cost=sum((s.cost for s in rows if s.cost is not None), Decimal(0)),
        unpriced=any(c is None for c in costs),
        seconds=max(elapsed, 0.0) if elapsed is not None else None,
    )


def changed_since(steps: Iterable[StepShown], since: datetime | None) -> list[StepShown]:
    """The steps (items included) that started or ended after ``since``: what a poll
    announces. Nothing on a first load."""
    if since is None:
        return []
    changed = []
    for step in steps:
        for shown in (step, *step.items):
            moment = shown.finished_at or shown.started_at
            if moment is not None and moment >= since:
                changed.append(shown)
    return changed


def running_outputs(job: Job) -> dict[Key, str]:
    """The text so far of the run's running steps, as their jobs' rows have it (saved
    every few chunks): what a page without Redis shows of them."""
    running = {row.job_id: (row.name, item_of(row)) for row in step_rows(job) if row.status == "running"}
    running.pop(None, None)
    if not running:
        return {}
    found = Job.objects.filter(pk__in=running).values_list("pk", "output")
    return {running[pk]: output for pk, output in found if output}
