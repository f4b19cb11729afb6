from __future__ import annotations

from typing import Any

from django.db import migrations, models
from django.db.models import F


def mark_published_versions(apps: Any, schema_editor: Any) -> None:
    # Only the versions published now are known to have been published; a newer version
    # than those stays a draft (as before), since no record says whether it was rolled back.
    Template = apps.get_model("templates_app", "Template")
    TemplateVersion = apps.get_model("templates_app", "TemplateVersion")
    published = Template.objects.exclude(published_version=None).values("published_version")
    TemplateVersion.objects.filter(pk__in=published).update(first_published_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("templates_app", "0004_template_tags_translations_soft_delete"),
    ]

    operations = [
        migrations.AddField(
            model_name="templateversion",
            name="first_published_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When this version was first published; empty for a draft never published.",
                null=True,
                verbose_name="first published",
            ),
        ),
        migrations.RunPython(mark_published_versions, migrations.RunPython.noop),
    ]
