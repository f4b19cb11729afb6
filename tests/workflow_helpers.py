"""A workflow template and runs of it with their steps' rows, for the page and API tests
(the rows written directly, as the engine would have left them)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from jobs.models import Job, JobStatus, JobStep
from templates_app.models import Template, Visibility


def step(name: str, body: str, **fields: Any) -> dict[str, Any]:
    """A step in the canonical stored form (defaults filled, keys in order)."""
    data: dict[str, Any] = {
        "name": name, "kind": "prompt", "body": body, "system_prompt": "", "model_settings": {},
        "needs": [], "when": "", "for_each": "", "parallel": None, "output": "text", "schema": None,
    }  # fmt: skip
    data.update(fields)
    return data


# outline → (intro, lines: one per point of the outline) in parallel → article.
STEPS = [
    step("outline", "Outline a post about {{ topic }}.", output="json", schema={"type": "array"}),
    step("intro", "Introduce {{ topic }}: {{ steps.outline.output }}", needs=["outline"]),
    step("lines", "Write about {{ item }}.", needs=["outline"], for_each="steps.outline.output", parallel=2),
    step("article", "steps.intro.output ~ (steps.lines.output | join(' '))", kind="transform",
         needs=["intro", "lines"]),
]  # fmt: skip


def make_workflow(
    make_template: Any = None, *, slug: str = "post", owner: Any = None, steps: Any = None, **content: Any
) -> Template:
    template = Template.objects.create(slug=slug, name=slug, owner=owner, visibility=Visibility.PUBLIC)
    parameters = [{"name": "topic", "type": "string", "max_length": 50}]
    template.create_version(
        body="", parameters=parameters, steps=STEPS if steps is None else steps, author=owner, **content
    )
    return Template.objects.select_related("published_version").get(pk=template.pk)


def make_run(template: Template, owner: Any, *, status: str = JobStatus.RUNNING, **fields: Any) -> Job:
    now = timezone.now()
    values: dict[str, Any] = {
        "inputs": {"topic": "rain", "count": 2},
        "input_hash": "w" * 64,
        "prompt": "",
        "provider": "offline",
        "model": "offline-echo",
        "attempts": 1,
        "started_at": now - timedelta(seconds=4),
    }
    if status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        values["finished_at"] = now
    values.update(fields)
    return Job.objects.create(
        template_version=template.published_version, owner=owner, status=status, **values
    )


def child_job(run: Job, name: str, output: str = "", item: int | None = None, **fields: Any) -> Job:
    values: dict[str, Any] = {
        "inputs": {"step": name, "item": item},
        "input_hash": f"{name}{item}".ljust(64, "c")[:64],
        "prompt": f"the {name} prompt",
        "provider": "offline",
        "model": "offline-echo",
        "output": output,
        "attempts": 1,
        "status": JobStatus.SUCCEEDED,
        "part_of": run,
    }
    values.update(fields)
    return Job.objects.create(template_version=run.template_version, owner=run.owner, **values)


def whole_item() -> int | None:
    """How the engine stores "the step as a whole" in JobStep.item."""
    return None if JobStep._meta.get_field("item").null else -1


def add_step(
    run: Job, name: str, position: int, status: str, *, item: int | None = None, **fields: Any
) -> Any:
    now = timezone.now()
    values: dict[str, Any] = {"output": "", "error_code": "", "error_message": ""}
    if status != "waiting":
        values["started_at"] = now - timedelta(seconds=2)
    if status in ("succeeded", "failed", "cancelled", "skipped"):
        values["finished_at"] = now
    values.update(fields)
    return JobStep.objects.create(
        run=run,
        name=name,
        position=position,
        item=whole_item() if item is None else item,
        status=status,
        **values,
    )


def failed_run(template: Template, owner: Any) -> Job:
    """outline succeeded, intro failed, lines cancelled, article waiting: the run failed."""
    run = make_run(template, owner, status=JobStatus.FAILED, error_code="step_failed", error_message="intro")
    outline = child_job(
        run, "outline", '["a", "b"]', input_tokens=5, output_tokens=7, cost=Decimal("0.000100")
    )
    add_step(run, "outline", 0, "succeeded", job=outline, output='["a", "b"]', output_data=["a", "b"],
             input_tokens=5, output_tokens=7, cost=Decimal("0.000100"))  # fmt: skip
    intro = child_job(run, "intro", status=JobStatus.FAILED, error_code="provider_error")
    add_step(run, "intro", 1, "failed", job=intro, error_code="provider_error", error_message="boom")
    add_step(run, "lines", 2, "cancelled")
    add_step(run, "article", 3, "waiting")
    return run
