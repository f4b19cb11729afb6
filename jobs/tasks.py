from __future__ import annotations

import logging
import time
from uuid import UUID

from celery import shared_task
from django.conf import settings

from .models import Job, JobStatus
from .providers import GenerationRequest, ProviderError, TextDelta, Usage, get_provider
from .streaming import JobPublisher

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def run_job(job_id: str) -> None:
    """Run one queued job on its provider, streaming chunks as they come."""
    job = Job.objects.select_related("template_version").filter(pk=UUID(job_id)).first()
    if job is None or not job.claim():
        return  # gone, cancelled, or already taken by another worker
    publisher = JobPublisher(job.id)
    publisher.reset()
    publisher.status(JobStatus.RUNNING)

    version = job.template_version
    request = GenerationRequest(
        system_prompt=job.system_prompt,
        prompt=job.prompt,
        model=job.model,
        temperature=float(version.temperature),
        max_tokens=version.max_tokens,
    )
    parts: list[str] = []
    offset = 0
    usage: Usage | None = None
    last_flush = time.monotonic()
    try:
        provider = get_provider(job.provider)
        for event in provider.stream(request):
            if isinstance(event, Usage):
                usage = event
                continue
            assert isinstance(event, TextDelta)
            parts.append(event.text)
            publisher.chunk(offset, event.text)
            offset += len(event.text)
            if time.monotonic() - last_flush >= settings.JOB_OUTPUT_FLUSH_INTERVAL:
                last_flush = time.monotonic()
                if not job.save_progress("".join(parts)):
                    # Cancelled meanwhile: stop at once, keep what was spent.
                    job.record_partial_usage(
                        output="".join(parts), input_tokens=None, output_tokens=len(parts)
                    )
                    publisher.status(JobStatus.CANCELLED, terminal=True)
                    return
    except ProviderError as exc:
        logger.warning("job %s failed: %s (%s)", job.id, exc, exc.code)
        job.mark_failed(code=exc.code, message=str(exc), output="".join(parts))
        publisher.status(JobStatus.FAILED, terminal=True)
        return
    except Exception:
        logger.exception("job %s failed unexpectedly", job.id)
        job.mark_failed(
            code="internal_error",
            message="The generation failed unexpectedly; the error was logged.",
            output="".join(parts),
        )
        publisher.status(JobStatus.FAILED, terminal=True)
        return
    output = "".join(parts)
    cost = provider.cost(job.model, usage) if usage else None
    if job.mark_succeeded(
        output=output,
        input_tokens=usage.input_tokens if usage else None,
        output_tokens=usage.output_tokens if usage else None,
        cost=cost,
    ):
        publisher.status(JobStatus.SUCCEEDED, terminal=True)
    else:
        publisher.status(Job.objects.values_list("status", flat=True).get(pk=job.pk), terminal=True)
