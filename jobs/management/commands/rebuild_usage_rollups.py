from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from jobs.models import Job
from jobs.rollups import UsageDayRollup, UsageRollup, rebuild


class Command(BaseCommand):
    help = (
        "Recount the usage rollups (hour and day rows) from the finished jobs: a repair, or after a "
        "change of TIME_ZONE (migrate ran it once)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rows = rebuild(Job, UsageRollup, UsageDayRollup)
        self.stdout.write(f"{rows} usage rows written.")
