from __future__ import annotations

import logging
from uuid import UUID

from celery import shared_task

from jobs.tasks import CLAIM_RETRY_MAX, INFRASTRUCTURE_ERRORS, claim_retry_delay
from promptlab.database import drop_broken_connection

from . import services

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, ignore_result=True)
def dispatch_batch(self, batch_id: str) -> int:  # type: ignore[no-untyped-def]
    """Give a batch's next rows jobs (services.dispatch): cheap, on the batches queue.

    A database that fails (or PostgreSQL breaking a lock cycle by failing this
    transaction) rolls the whole dispatch back: no row got a job, and the task tries again.
    """
    try:
        return services.dispatch(UUID(batch_id))
    except INFRASTRUCTURE_ERRORS as exc:
        logger.warning("batch %s: dispatch failed (%s); retrying", batch_id, exc)
        drop_broken_connection()
        raise self.retry(
            exc=exc, countdown=claim_retry_delay(self.request.retries), max_retries=CLAIM_RETRY_MAX
        ) from None


@shared_task(ignore_result=True)
def sweep_batches() -> int:
    """Beat's safety net for batches (services.sweep), every BATCH_SWEEP_INTERVAL seconds."""
    return services.sweep()


@shared_task(ignore_result=True)
def expire_batch_drafts() -> int:
    """Drafts older than BATCH_DRAFT_TTL, and their uploaded files, go."""
    return services.expire_drafts()
