from __future__ import annotations

from typing import Any

from django.db import migrations


def backfill(apps: Any, schema_editor: Any) -> None:
    """Count the jobs that finished before the rollups existed."""
    from jobs.rollups import rebuild

    rebuild(apps.get_model("jobs", "Job"), apps.get_model("jobs", "UsageRollup"))


def forget(apps: Any, schema_editor: Any) -> None:
    apps.get_model("jobs", "UsageRollup").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("jobs", "0010_usage_rollup")]

    operations = [migrations.RunPython(backfill, forget)]
