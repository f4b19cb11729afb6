"""The workflow engine's task: an advance of one run (``orchestration.advance``)."""

from __future__ import annotations

import logging
from uuid import UUID

from celery import shared_task

from promptlab.database import drop_broken_connection

logger = logging.getLogger(__name__)

ADVANCE_RETRY_MAX = 25


@shared_task(bind=True, acks_late=True, ignore_result=True)
def advance_workflow(self, run_id: str) -> None:  # type: ignore[no-untyped-def]
    """Advance a run: idempotent, so a duplicate or a redelivery is harmless.

    The database failing under it (or a deadlock PostgreSQL broke) rolls the advance back
    whole: it is tried again. Any other error fails the run (a bug must not keep a run
    running until its retries run out)."""
    from ..tasks import INFRASTRUCTURE_ERRORS, claim_retry_delay
    from .orchestration import advance, fail_unexpectedly

    try:
        advance(UUID(run_id))
    except INFRASTRUCTURE_ERRORS as exc:
        logger.warning("run %s: its advance failed (%s); trying again", run_id, exc)
        drop_broken_connection()
        raise self.retry(
            exc=exc, countdown=claim_retry_delay(self.request.retries), max_retries=ADVANCE_RETRY_MAX
        ) from None
    except Exception:
        logger.exception("run %s: its advance failed unexpectedly", run_id)
        fail_unexpectedly(UUID(run_id))
