from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = _("Generation jobs")

    def ready(self) -> None:
        from . import visitors  # noqa: F401  (connects the sign-in receiver)
        from .workflows import receivers  # noqa: F401  (connects the step-finished receiver)
