from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = _("Batches")

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the job_finished receiver)
