"""Submitting a generation: the one road for the browser form and the API."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from templates_app.models import TemplateVersion
from templates_app.rendering import PromptRenderError

from .models import Job, input_hash

logger = logging.getLogger(__name__)


class SubmissionError(Exception):
    """The job could not be created or enqueued; the message is for the user."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def submit_generation(
    version: TemplateVersion,
    inputs: dict[str, Any],
    *,
    owner: Any = None,
    session_key: str = "",
) -> Job:
    """Create a queued job for validated inputs and enqueue it once committed."""
    try:
        system_prompt, prompt = version.render(inputs)
    except PromptRenderError as exc:
        raise SubmissionError(
            _("This template could not be filled in: %(problem)s") % {"problem": exc}, code="render_error"
        ) from None
    with transaction.atomic():
        job = Job.objects.create(
            template_version=version,
            owner=owner if owner is not None and owner.is_authenticated else None,
            session_key="" if owner is not None and owner.is_authenticated else session_key,
            inputs=inputs,
            input_hash=input_hash(
                version_id=version.pk, model_settings=version.model_settings, inputs=inputs
            ),
            system_prompt=system_prompt,
            prompt=prompt,
            provider=version.provider,
            model=version.model,
        )
        transaction.on_commit(lambda: _enqueue(job))
    if job.status == "failed":
        raise SubmissionError(job.error_message, code=job.error_code)
    return job


def _enqueue(job: Job) -> None:
    from .tasks import run_job

    try:
        run_job.delay(str(job.id))
    except Exception:
        # A job that can never run must not sit "queued" forever.
        logger.exception("could not enqueue job %s", job.id)
        job.mark_failed(
            code="broker_unavailable",
            message=_("The job queue is unavailable right now. Nothing was run; please try again."),
        )
