from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from templates_app.demo import demo_templates
from templates_app.models import Template, Visibility


class Command(BaseCommand):
    help = "Install or update the public demo templates (safe to run again)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        for demo in demo_templates():
            template, created = Template.objects.get_or_create(
                slug=demo.slug,
                defaults={
                    "name": demo.name,
                    "description": demo.description,
                    "visibility": demo.visibility or Visibility.PUBLIC,
                },
            )
            current = template.published_version
            # What a demo file sets of a version; its model settings and theme are the defaults.
            wanted = {"system_prompt": demo.system_prompt, "body": demo.body, "parameters": demo.parameters}
            if current is None or any(getattr(current, f) != v for f, v in wanted.items()):
                version = template.create_version(**wanted)
                self.stdout.write(f"{template.slug}: version {version.number}")
            elif not created:
                self.stdout.write(f"{template.slug}: up to date")
