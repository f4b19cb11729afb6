from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from jobs.signals import job_finished, job_usage_changed

from . import services
from .models import BatchRow, RowStatus

logger = logging.getLogger(__name__)


def settle_finished_jobs(sender: Any, job_ids: list[Any], status: str, **kwargs: Any) -> None:
    """Jobs finished: their batch rows end too, counted, in the jobs' own transaction."""
    # One indexed read for the many jobs that are no batch's (batchrow_job), outside the
    # savepoint: a plain read can't fail the job's change.
    if not BatchRow.objects.filter(job_id__in=job_ids, status=RowStatus.RUNNING).exists():
        return
    try:
        # A savepoint: should this fail, the job's own change still commits, and the
        # sweep (services.sweep) settles the rows later.
        with transaction.atomic():
            services.settle_jobs(job_ids)
    except Exception:
        logger.exception("could not settle the batch rows of jobs %s", job_ids)


def recount_changed_usage(
    sender: Any, job_id: Any, before: tuple[Any, ...], after: tuple[Any, ...], **kwargs: Any
) -> None:
    """A finished job's spending changed (a cancelled run's tokens): its batches' totals move."""
    if not BatchRow.objects.filter(job_id=job_id).exists():
        return
    try:
        with transaction.atomic():
            services.recount_job_usage(job_id, before, after)
    except Exception:
        logger.exception("could not recount the batch totals of job %s", job_id)


job_finished.connect(settle_finished_jobs, dispatch_uid="batches.settle_finished_jobs")
job_usage_changed.connect(recount_changed_usage, dispatch_uid="batches.recount_changed_usage")
