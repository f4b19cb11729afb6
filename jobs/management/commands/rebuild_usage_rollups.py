from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from jobs.models import Job
from jobs.rollups import UsageRollup, rebuild


class Command(BaseCommand):
    help = "Recount the usage rollups from the finished jobs (a repair; migrate ran it once)."

    def handle(self, *args: Any, **options: Any) -> None:
        rows = rebuild(Job, UsageRollup)
        self.stdout.write(f"{rows} usage rows written.")
