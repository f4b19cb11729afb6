"""A workflow's step job ended: its run advances, once the ending commits.

As ``batches/receivers.py``: no work in the signal itself (CONVENTIONS), only one indexed
read, and the advance once the ending commits, in the process where the step ended (the
worker, most often), as a batch's dispatch does: a message and a task per step would cost
a broker round trip and a task's start on every step (bench/workflows.py measures the
overhead per step). The advance is idempotent, so a duplicate costs one empty advance.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import transaction

from ..models import Job
from ..signals import job_finished

logger = logging.getLogger(__name__)

# Whether this thread is inside an advance run here: one that makes a step end (an answer
# from the cache) sends the next advance as a message instead of nesting another.
_here = threading.local()


def advance_runs_of_finished_steps(sender: Any, job_ids: list[Any], status: str, **kwargs: Any) -> None:
    runs = set(Job.objects.filter(pk__in=job_ids, part_of__isnull=False).values_list("part_of_id", flat=True))
    for run_id in runs:
        transaction.on_commit(lambda run_id=run_id: advance_soon(run_id))


def advance_soon(run_id: Any) -> None:
    """Advance the run here and now; by a message when already advancing, or when this fails."""
    from .orchestration import advance

    if getattr(_here, "advancing", False):
        send_advance(run_id)
        return
    _here.advancing = True
    try:
        advance(run_id)
    except Exception as exc:
        logger.warning("run %s: could not advance it here (%s); sending its advance", run_id, exc)
        send_advance(run_id)
    finally:
        _here.advancing = False


def send_advance(run_id: Any) -> None:
    """Ask a worker for an advance of the run. A broker that is down loses nothing: the
    run's lease runs out with no step active, and the sweep runs it again, which resumes it."""
    from .tasks import advance_workflow

    try:
        advance_workflow.delay(str(run_id))
    except Exception as exc:
        logger.warning("run %s: could not send its advance now (%s); the sweep will", run_id, exc)


job_finished.connect(advance_runs_of_finished_steps, dispatch_uid="jobs.workflows.advance_runs")
