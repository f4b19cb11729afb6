"""Running a workflow: the orchestrator's few moves, each under the run's row lock.

``advance`` is the one that does the work, and it is idempotent: it reads the step rows
and the child jobs as they are, settles the children that ended, skips, evaluates
transforms, starts every step that is ready (within ``parallel`` and
WORKFLOW_MAX_IN_FLIGHT), and ends the run once every step ended. It runs when the run is
claimed (``start``), and whenever one of its child jobs ends (``receivers.py``): a
duplicate or a late advance finds nothing to do. Everything it decides is written in one
transaction with the lock of the parent job's row, so a cancel or a retry of the run
waits for it and never sees half an advance; the child jobs it made are sent once that
commits, as one Celery ``group``.

Why not a chord: a chord's state lives in the result backend, and its callback never
fires when the worker running a header task is killed (the header's message waits for
the broker's visibility timeout, or forever on the embedded broker, which has no
chord-capable backend at all). Here the database holds the state, and the sweep resumes
a run whose advance was lost (docs/architecture.md, "Workflows").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from celery import group
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from templates_app.rendering import PromptRenderError
from templates_app.steps import Step, StepContext, StepGraph, StepOutputInvalid, TooManyItems

from .. import streaming
from ..models import ACTIVE_STATUSES, TERMINAL_STATUSES, Job, JobStatus
from ..rollups import UsageRollup
from . import WORKFLOW_QUEUE
from .models import STEP_DONE_STATUSES, JobStep, StepStatus

logger = logging.getLogger(__name__)

# Said to the model when a json step's answer did not parse: English, as the prompt is
# the template's, not the reader's; ``detail`` is the validation error in English too.
JSON_RETRY_INSTRUCTION = (
    "Your previous answer was not valid JSON for the schema: {detail}. Answer again with the JSON only."
)


def start(run: Job, attempt: int) -> None:
    """``run_job`` claimed the run: tell its streams, and advance it from its rows (a run
    claimed again after its advance was lost resumes where its rows stand)."""
    streaming.publish_workflow_events(
        run.pk, [{"type": "run", "status": JobStatus.RUNNING, "terminal": False}]
    )
    streaming.publish_status(run.pk, attempt, JobStatus.RUNNING)
    advance(run.pk)


def advance(run_id: Any) -> None:
    """One step of the orchestration (see the module's docstring); a no-op unless running."""
    with transaction.atomic():
        run = (
            Job.objects.select_for_update(of=("self",))
            .select_related("template_version__template")
            .filter(pk=run_id, status=JobStatus.RUNNING)
            .first()
        )
        if run is None:
            return  # ended, cancelled, queued again (its claim advances it), or deleted
        progress = _Advance(run)
        progress.settle()
        progress.schedule()
        progress.save()
        if progress.all_ended():
            progress.end()
        else:
            # The sweep takes a running run with no active child whose lease ran out for one
            # whose advance was lost: this one was not.
            until = timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS)
            Job.objects.filter(pk=run.pk, status=JobStatus.RUNNING).update(lease_expires_at=until)
        transaction.on_commit(progress.after_commit)


def cancel_steps(run: Job, *, run_status: str = JobStatus.CANCELLED) -> int:
    """After the run's own cancel, in its transaction: cancel its active child jobs and mark
    its waiting and running steps cancelled (kept: what finished). The number cancelled."""
    from ..services import enqueue_job

    with transaction.atomic():
        # An advance in progress finishes first: the children it made are then visible.
        Job.objects.select_for_update().filter(pk=run.pk).first()
        cancelled = 0
        for child in Job.objects.filter(part_of=run, status__in=ACTIVE_STATUSES):
            if child.cancel(send=enqueue_job):
                cancelled += 1
                transaction.on_commit(
                    lambda child=child: streaming.publish_status(
                        child.pk, child.attempts, JobStatus.CANCELLED, terminal=True
                    )
                )
        now = timezone.now()
        every = list(run.steps.all())
        rows = [row for row in every if row.status in (StepStatus.WAITING, StepStatus.RUNNING)]
        for row in rows:
            row.status, row.finished_at = StepStatus.CANCELLED, now
            row.save(update_fields=["status", "finished_at"])
        _record_spent(run, every)
        events = [row.event() for row in rows]
        events.append({"type": "run", "status": run_status, "terminal": True})
        transaction.on_commit(lambda: streaming.publish_workflow_events(run.pk, events, terminal=True))
    return cancelled


def _record_spent(run: Job, rows: list[JobStep]) -> None:
    """A cancelled run keeps what its finished steps spent (and is counted again with it)."""
    spread = {row.name for row in rows if row.item is not None}
    # A for_each's whole row has its items' sums only once it ended: its items count.
    leaves = [row for row in rows if row.item is not None or row.name not in spread]
    input_tokens, output_tokens, cost = _sum_usage(leaves)
    if input_tokens is None and output_tokens is None:
        return
    run.refresh_from_db(fields=["status", "attempts", "output"])
    if run.status == JobStatus.CANCELLED:
        run.record_partial_usage(
            run.attempts, output=run.output, input_tokens=input_tokens, output_tokens=output_tokens, cost=cost
        )


def retry(run: Job) -> bool:
    """Retry a failed or cancelled workflow run from what did not succeed.

    Failed, cancelled and waiting steps go back to waiting; succeeded and skipped ones (and
    the succeeded items of a ``for_each``) stay, and are not run again. The run is counted
    out of the usage (it is counted again when it ends) and queued again. False when the run
    is not a workflow's, or has not failed or been cancelled.
    """
    from ..tasks import send_run

    with transaction.atomic():
        row = (
            Job.objects.select_for_update(of=("self",))
            .select_related("template_version")
            .filter(pk=run.pk, status__in=[JobStatus.FAILED, JobStatus.CANCELLED])
            .first()
        )
        if row is None or not row.is_workflow_run:
            return False
        UsageRollup.objects.count_jobs([row.pk], sign=-1)
        again = list(
            row.steps.filter(status__in=[StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.WAITING])
        )
        for step in again:
            _reset(step)
            step.save()
        Job.objects.filter(pk=row.pk).update(
            status=JobStatus.QUEUED,
            leader=None,
            cached_from=None,
            output="",
            error_code="",
            error_message="",
            input_tokens=None,
            output_tokens=None,
            cost=None,
            started_at=None,
            finished_at=None,
            lease_expires_at=Job.queue_deadline(),
        )
        row.refresh_from_db()
        events = [step.event() for step in again]
        events.append({"type": "run", "status": JobStatus.QUEUED, "terminal": False})

        def send() -> None:
            streaming.publish_workflow_events(row.pk, events)
            streaming.publish_status(row.pk, row.attempts, JobStatus.QUEUED)
            try:
                send_run(row)
            except Exception as exc:
                logger.warning("run %s: could not send it again now (%s); the sweep will", row.pk, exc)

        transaction.on_commit(send)
    run.refresh_from_db()
    return True


def _reset(step: JobStep) -> None:
    step.status = StepStatus.WAITING
    step.job = None
    step.output, step.output_data = "", None
    step.error_code = step.error_message = ""
    step.input_tokens = step.output_tokens = step.cost = None
    step.started_at = step.finished_at = None
    step.tries = 0


def _text_of(value: Any) -> str:
    """A step's value as the text shown (and a result step's as the run's output)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2)


def _sum_usage(rows: list[JobStep]) -> tuple[int | None, int | None, Decimal | None]:
    """Tokens and cost of rows: None when nothing was spent, no cost when one call had no price."""
    spent = [row for row in rows if row.input_tokens is not None or row.output_tokens is not None]
    if not spent:
        return None, None, None
    costs = [row.cost for row in spent]
    cost = None if any(c is None for c in costs) else sum(costs, Decimal(0))
    return sum(r.input_tokens or 0 for r in spent), sum(r.output_tokens or 0 for r in spent), cost


@dataclass
class _Advance:
    """One advance of one run: its rows in memory, what changed, what to send after commit."""

    run: Job
    graph: StepGraph = field(init=False)
    rows: dict[tuple[str, int | None], JobStep] = field(init=False)
    changed: dict[int, JobStep] = field(default_factory=dict)
    to_send: list[Job] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    terminal: bool = False

    def __post_init__(self) -> None:
        self.graph = self.run.template_version.step_graph
        self.rows = {(row.name, row.item): row for row in self.run.steps.all()}
        missing = [
            JobStep(run=self.run, name=step.name, position=position)
            for position, step in enumerate(self.graph.steps)
            if (step.name, None) not in self.rows
        ]
        for row in JobStep.objects.bulk_create(missing):
            self.rows[(row.name, None)] = row

    # -- reading ---------------------------------------------------------------------------

    def whole(self, name: str) -> JobStep:
        return self.rows[(name, None)]

    def items_of(self, name: str) -> list[JobStep]:
        return sorted(
            (row for (step, item), row in self.rows.items() if step == name and item is not None),
            key=lambda row: row.item or 0,
        )

    def value_of(self, step: Step, row: JobStep) -> Any:
        """What later steps see of a finished row: the text of a text prompt, else the value."""
        if step.kind == "prompt" and step.output != "json" and not (step.for_each and row.item is None):
            return row.output
        return row.output_data

    def context(self, step: Step) -> StepContext:
        outputs: dict[str, dict[str, Any]] = {}
        for name in self.graph.needs_closure(step.name):
            row = self.whole(name)
            if row.status == StepStatus.SKIPPED:
                outputs[name] = StepContext.skipped()
            elif row.status == StepStatus.SUCCEEDED:
                outputs[name] = StepContext.result(self.value_of(self.graph.step(name), row))
        return StepContext(inputs=dict(self.run.inputs), outputs=outputs)

    def in_flight(self) -> int:
        return sum(1 for row in self.rows.values() if row.status == StepStatus.RUNNING and row.job_id)

    def all_ended(self) -> bool:
        return all(self.whole(step.name).is_terminal for step in self.graph.steps)

    # -- writing ---------------------------------------------------------------------------

    def touch(self, row: JobStep) -> None:
        self.changed[id(row)] = row

    def set_status(self, row: JobStep, status: str, **changes: Any) -> None:
        now = timezone.now()
        row.status = status
        for name, value in changes.items():
            setattr(row, name, value)
        if status == StepStatus.RUNNING and row.started_at is None:
            row.started_at = now
        if status in (StepStatus.SKIPPED, StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED):
            row.finished_at = now
        self.touch(row)

    def fail(self, row: JobStep, code: str, message: str) -> None:
        self.set_status(row, StepStatus.FAILED, error_code=code, error_message=message[:2000])

    def save(self) -> None:
        for row in self.changed.values():
            row.save()
        self.events.extend(row.event() for row in self.changed.values())
        self.changed = {}

    # -- settling the child jobs that ended ------------------------------------------------

    def settle(self) -> None:
        running = [row for row in self.rows.values() if row.status == StepStatus.RUNNING and row.job_id]
        if running:
            children = Job.objects.in_bulk([row.job_id for row in running])
            for row in running:
                child = children.get(row.job_id)
                if child is None or child.status in TERMINAL_STATUSES:
                    self.settle_row(row, child)

    def settle_row(self, row: JobStep, child: Job | None) -> None:
        """A row's child job ended (or was deleted): the row succeeds, asks again, or fails."""
        step = self.graph.step(row.name)
        if child is None:
            self.fail(row, "internal_error", "")
            return
        row.add_usage(child.input_tokens, child.output_tokens, child.cost)
        self.touch(row)
        if child.status == JobStatus.CANCELLED:
            self.set_status(row, StepStatus.CANCELLED)
            return
        if child.status == JobStatus.FAILED:
            self.fail(row, child.error_code or "internal_error", child.error_message)
            return
        try:
            value = step.parse_output(child.output)
        except StepOutputInvalid as exc:
            if row.tries < 2:
                prompt = f"{child.prompt}\n\n{JSON_RETRY_INSTRUCTION.format(detail=exc.detail)}"
                self.call(step, row, child.system_prompt, prompt)
                return
            self.fail(row, "step_output_invalid", exc.detail)
            return
        data = value if step.output == "json" else None
        self.set_status(row, StepStatus.SUCCEEDED, output=child.output, output_data=data)

    # -- starting what is ready ------------------------------------------------------------

    def schedule(self) -> None:
        """Start every ready step, over and over: a transform or a skip may make more ready."""
        while not self.failed_step():
            moved = False
            for step in self.graph.steps:
                row = self.whole(step.name)
                if row.status == StepStatus.WAITING and self.needs_done(step):
                    moved |= self.begin(step, row)
                if row.status == StepStatus.RUNNING and step.for_each:
                    moved |= self.run_items(step, row)
                if self.failed_step():
                    break
            if not moved:
                return
        self.fail_fast()

    def needs_done(self, step: Step) -> bool:
        return all(self.whole(name).status in STEP_DONE_STATUSES for name in step.needs)

    def failed_step(self) -> str | None:
        """The step that stops the run: the first that failed, else the first cancelled
        (a step job cancelled on its own page); fail fast cancels the others after it."""
        for status in (StepStatus.FAILED, StepStatus.CANCELLED):
            for step in self.graph.steps:
                if self.whole(step.name).status == status:
                    return step.name
        return None

    def begin(self, step: Step, row: JobStep) -> bool:
        """A waiting step whose needs ended: skip it, or start it; False when it must wait."""
        context = self.context(step)
        try:
            if step.should_skip(context):
                self.set_status(row, StepStatus.SKIPPED)
                return True
            if step.for_each:
                return self.begin_items(step, row, step.items(context))
            if step.kind == "transform":
                value = step.evaluate(context)
                self.set_status(row, StepStatus.SUCCEEDED, output=_text_of(value), output_data=value)
                return True
            if self.in_flight() >= settings.WORKFLOW_MAX_IN_FLIGHT:
                return False
            system_prompt, prompt = step.render(context)
        except TooManyItems as exc:
            self.fail(row, "too_many_items", str(exc))
            return True
        except PromptRenderError as exc:
            self.fail(row, "step_render_error", str(exc))
            return True
        self.call(step, row, system_prompt, prompt)
        return True

    def begin_items(self, step: Step, row: JobStep, items: list[Any]) -> bool:
        self.set_status(row, StepStatus.RUNNING)
        made = JobStep.objects.bulk_create(
            [
                JobStep(run=self.run, name=step.name, position=row.position, item=index)
                for index in range(len(items))
                if (step.name, index) not in self.rows
            ]
        )
        for item_row in made:
            self.rows[(step.name, item_row.item)] = item_row
        self.run_items(step, row)
        return True

    def run_items(self, step: Step, row: JobStep) -> bool:
        """Start a running ``for_each`` step's waiting items (within its ``parallel`` and the
        run's limit), and end the step once every item ended."""
        moved = False
        items = self.items_of(step.name)
        waiting = [item for item in items if item.status == StepStatus.WAITING]
        if waiting:
            try:
                values = step.items(self.context(step))  # as when it began: the same outputs
            except PromptRenderError as exc:
                self.fail(row, "step_render_error", str(exc))
                return True
            parallel = step.parallel or 1
            for item_row in waiting:
                running = sum(1 for item in items if item.status == StepStatus.RUNNING)
                if step.kind == "prompt" and (
                    running >= parallel or self.in_flight() >= settings.WORKFLOW_MAX_IN_FLIGHT
                ):
                    break
                context = self.context(step).for_item(values[item_row.item or 0], item_row.item or 0)
                moved = True
                try:
                    if step.kind == "transform":
                        value = step.evaluate(context)
                        self.set_status(
                            item_row, StepStatus.SUCCEEDED, output=_text_of(value), output_data=value
                        )
                        continue
                    system_prompt, prompt = step.render(context)
                except PromptRenderError as exc:
                    self.fail(item_row, "step_render_error", str(exc))
                    break
                self.set_status(item_row, StepStatus.RUNNING)
                self.call(step, item_row, system_prompt, prompt)
        if all(item.is_terminal for item in items):
            self.end_items(step, row, items)
            moved = True
        elif any(item.status in (StepStatus.FAILED, StepStatus.CANCELLED) for item in items):
            # An item failed: the step fails at once (fail fast cancels its running items).
            self.end_items(step, row, items)
            moved = True
        return moved

    def end_items(self, step: Step, row: JobStep, items: list[JobStep]) -> None:
        row.input_tokens, row.output_tokens, row.cost = _sum_usage(items)
        broken = next((item for item in items if item.status == StepStatus.FAILED), None)
        broken = broken or next((item for item in items if item.status == StepStatus.CANCELLED), None)
        if broken is not None:
            code = broken.error_code or "cancelled"
            self.fail(row, code, broken.error_message)
            return
        values = [self.value_of(step, item) for item in items]
        texts = all(isinstance(value, str) for value in values)
        text = "\n\n".join(values) if texts else _text_of(values)
        self.set_status(row, StepStatus.SUCCEEDED, output=text, output_data=values)

    def call(self, step: Step, row: JobStep, system_prompt: str, prompt: str) -> None:
        """Make the row's child job (answered from the cache, following a twin, or to send)."""
        from ..services import SubmissionError, submit_part

        if "\x00" in prompt or "\x00" in system_prompt:
            self.fail(row, "step_render_error", "U+0000")
            return
        try:
            child = submit_part(
                self.run,
                step=step.name,
                item=row.item,
                system_prompt=system_prompt,
                prompt=prompt,
                model_settings=step.model_settings,
                output=step.output,
                schema=step.schema,
                send=self.to_send.append,
            )
        except SubmissionError as exc:  # each model call reserves on the budgets: refused, it never ran
            row.tries += 1
            self.fail(row, exc.code, str(exc))
            return
        row.tries += 1
        self.set_status(row, StepStatus.RUNNING, job=child)
        if child.status in TERMINAL_STATUSES:  # answered from the cache at once
            self.settle_row(row, child)

    # -- ending ----------------------------------------------------------------------------

    def fail_fast(self) -> None:
        """A step failed: cancel what runs and what waits; the run ends failed."""
        from ..services import enqueue_job

        for row in list(self.rows.values()):
            if row.status not in (StepStatus.RUNNING, StepStatus.WAITING):
                continue
            if row.job_id:
                child = Job.objects.filter(pk=row.job_id).first()
                if child is not None and child.cancel(send=enqueue_job):
                    transaction.on_commit(
                        lambda child=child: streaming.publish_status(
                            child.pk, child.attempts, JobStatus.CANCELLED, terminal=True
                        )
                    )
            self.set_status(row, StepStatus.CANCELLED)
        for step in self.graph.steps:
            if step.for_each and (items := self.items_of(step.name)):
                row = self.whole(step.name)
                row.input_tokens, row.output_tokens, row.cost = _sum_usage(items)
                self.touch(row)
        self.save()

    def end(self) -> None:
        """Every step ended: the run ends, once (fenced by its attempt, under its lock)."""
        wholes = [self.whole(step.name) for step in self.graph.steps]
        input_tokens, output_tokens, cost = _sum_usage(wholes)
        failed = self.failed_step()
        if failed is not None:
            status = JobStatus.FAILED
            ended = self.run.finish_workflow(
                self.run.attempts,
                status,
                output=_text_of(None),
                error_code="step_failed",
                error_message=failed,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost=cost,
            )
        else:
            status = JobStatus.SUCCEEDED
            result = self.whole(self.graph.result_step)
            ended = self.run.finish_workflow(
                self.run.attempts,
                status,
                output=result.output if result.status == StepStatus.SUCCEEDED else "",
                error_code="",
                error_message="",
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost=cost,
            )
        if ended:
            self.terminal = True
            self.events.append({"type": "run", "status": status, "terminal": True})

    def after_commit(self) -> None:
        """Once the advance committed: the child jobs go to the workers, the events out."""
        if self.to_send:
            _send(self.to_send)
        streaming.publish_workflow_events(self.run.pk, self.events, terminal=self.terminal)
        if self.terminal:
            streaming.publish_status(self.run.pk, self.run.attempts, self.run.status, terminal=True)


def _send(jobs: list[Job]) -> None:
    """Send the child jobs' messages as one group; a broker that is down loses nothing (the
    sweep sends a queued job once its queue deadline passes)."""
    from ..tasks import run_job

    signatures = [run_job.si(str(job.pk)).set(queue=job.queue or WORKFLOW_QUEUE) for job in jobs]
    try:
        group(signatures).apply_async()
    except Exception as exc:
        logger.warning("could not send %d step jobs now (%s); the sweep will", len(jobs), exc)


def fail_unexpectedly(run_id: Any) -> None:
    """An advance failed with an error no retry will fix (a bug): the run fails now, its
    active steps cancelled, rather than running until the sweep's attempts run out."""
    run = Job.objects.filter(pk=run_id, status=JobStatus.RUNNING).first()
    if run is None:
        return
    with transaction.atomic():
        if not run.mark_failed(None, code="internal_error", message=""):
            return
        cancel_steps(run, run_status=JobStatus.FAILED)
    streaming.publish_status(run.pk, run.attempts, JobStatus.FAILED, terminal=True)
