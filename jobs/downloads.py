"""A job's downloads: one small class per format, found by file extension."""

from __future__ import annotations

import json
from typing import ClassVar

from django.utils.translation import gettext_lazy as _

from .models import Job


class JobDownload:
    extension: ClassVar[str]
    content_type: ClassVar[str]
    label: ClassVar[str]

    def body(self, job: Job) -> str:
        raise NotImplementedError

    def filename(self, job: Job) -> str:
        return f"{job.template_version.template.slug}-{str(job.pk)[:8]}.{self.extension}"


class MarkdownDownload(JobDownload):
    """The answer as the model wrote it: models answer in Markdown."""

    extension = "md"
    content_type = "text/markdown; charset=utf-8"
    label = _("Markdown (.md)")

    def body(self, job: Job) -> str:
        return job.output


class TextDownload(JobDownload):
    extension = "txt"
    content_type = "text/plain; charset=utf-8"
    label = _("Plain text (.txt)")

    def body(self, job: Job) -> str:
        return job.output


class JsonDownload(JobDownload):
    """The whole job as the API describes it (inputs, output, status, tokens, cost, model,
    times): the same serializer, so the two never differ."""

    extension = "json"
    content_type = "application/json"
    label = _("JSON with inputs, tokens and cost (.json)")

    def body(self, job: Job) -> str:
        from .api.serializers import JobSerializer

        return json.dumps(JobSerializer(job).data, ensure_ascii=False, indent=2, default=str) + "\n"


DOWNLOADS: dict[str, JobDownload] = {
    download.extension: download for download in (MarkdownDownload(), TextDownload(), JsonDownload())
}
