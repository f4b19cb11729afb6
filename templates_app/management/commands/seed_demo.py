from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from templates_app.demo import demo_templates
from templates_app.models import Template, Visibility


class Command(BaseCommand):
    help = "Install or update the public demo templates (safe to run again)."

    @transaction.atomic  # every demo template or none
    def handle(self, *args: Any, **options: Any) -> None:
        for demo in demo_templates():
            # Deleted ones too: a demo template someone deleted keeps its slug (and stays deleted).
            template, created = Template.all_objects.get_or_create(
                slug=demo.slug,
                defaults={
                    "name": demo.name,
                    "description": demo.description,
                    "visibility": demo.visibility or Visibility.PUBLIC,
                },
            )
            # The file's whole version content (prompts, parameters, model settings, theme),
            # saved as any import or edit is: a new version only when it differs.
            saved = template.save_content(demo.version_content(), author=None, publish=True)
            if saved.created:
                self.stdout.write(f"{template.slug}: version {saved.version.number}")
            elif not created:
                self.stdout.write(f"{template.slug}: up to date")
