"""The workflow engine: a template version's steps run as child jobs of one parent job.

A run is an ordinary parent ``Job`` (``jobs.services.submit_generation``). Each prompt
step (each item of a ``for_each``) is an ordinary child job (``Job.part_of``) run by
``run_job`` with every guarantee of a single job; transforms and conditions are
evaluated here. The state lives in PostgreSQL (``JobStep`` rows under the parent's row
lock), the dispatch is Celery's (a ``group`` of ``run_job`` signatures), and the events
of a child finishing drive the run forward (docs/architecture.md, "Workflows").

The functions here are imported lazily: ``jobs.models`` imports this package's models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..models import Job

# The Celery queue of the steps' jobs (``Job.queue``) and of the advances (settings'
# CELERY_TASK_ROUTES); the worker consumes it beside the others (Procfile).
WORKFLOW_QUEUE = "workflows"


def start(job: Job, attempt: int) -> None:
    """``run_job`` claimed a workflow run (attempt ``attempt``): make its steps, advance it."""
    from .orchestration import start as start_run

    start_run(job, attempt)


def advance(run_id: Any) -> None:
    """Settle finished steps, start the ready ones, end the run once every step ended."""
    from .orchestration import advance as advance_run

    advance_run(run_id)


def cancel(job: Job) -> int:
    """The run was cancelled: cancel its active steps; how many child jobs were cancelled."""
    from .orchestration import cancel_steps

    return cancel_steps(job)


def retry(job: Job) -> bool:
    """Retry a failed or cancelled run from its failed steps; False if it can't be."""
    from .orchestration import retry as retry_run

    return retry_run(job)
