from __future__ import annotations

import logging
from typing import Any

from jobs.signals import job_finished

from . import services
from .events import JOB_STATUS_EVENTS

logger = logging.getLogger(__name__)


def record_finished_jobs(sender: Any, job_ids: list[Any], status: str, **kwargs: Any) -> None:
    """Jobs finished: their owners' endpoints get a delivery each (webhooks.services)."""
    event = JOB_STATUS_EVENTS.get(str(status))
    if event is None:
        return
    try:
        services.record_job_event(job_ids, event)
    except Exception:
        # A webhook must never undo a job's finish: the job's change commits without it.
        logger.exception("could not record the %s webhook deliveries of jobs %s", event.name, job_ids)


job_finished.connect(record_finished_jobs, dispatch_uid="webhooks.record_finished_jobs")
