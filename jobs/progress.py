"""What a job page shows of a job's progress, for the site's job page and the embedded one."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.template.loader import render_to_string

from .models import Job


def shown(job: Job) -> Job:
    """Whose progress the page shows: the leader's while the job follows one."""
    return job.leader if job.leader_id and not job.is_terminal else job


def progress_response(request: HttpRequest, job: Job) -> JsonResponse:
    """For the page's script without Redis: the output after ``offset`` of ``attempt``
    (the whole output, with ``reset``, when the attempt is another), and the status."""
    source = shown(job)
    try:
        attempt, offset = int(request.GET.get("attempt", "")), int(request.GET.get("offset", ""))
    except ValueError:
        attempt, offset = -1, 0
    output = job.output if job.is_terminal else source.output
    source_attempt = job.attempts if job.is_terminal else source.attempts
    reset = attempt != source_attempt or not 0 <= offset <= len(output)
    summary = render_to_string("jobs/detail.html#summary", {"job": job, "shown": source}, request)
    return JsonResponse(
        {
            "status": job.status,
            "terminal": job.is_terminal,
            "attempt": source_attempt,
            "reset": reset,
            "text": output if reset else output[offset:],
            "offset": len(output),  # in characters, as Python counts them (not UTF-16 units)
            "summary": summary,
        }
    )
