from __future__ import annotations

from typing import Any

from django.db import migrations


def backfill(apps: Any, schema_editor: Any) -> None:
    """Count the finished jobs into day rows (the hour rows recounted with them)."""
    from jobs.rollups import rebuild

    rebuild(
        apps.get_model("jobs", "Job"),
        apps.get_model("jobs", "UsageRollup"),
        apps.get_model("jobs", "UsageDayRollup"),
    )


def forget(apps: Any, schema_editor: Any) -> None:
    apps.get_model("jobs", "UsageDayRollup").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("jobs", "0012_usage_day_rollup")]

    operations = [migrations.RunPython(backfill, forget)]
