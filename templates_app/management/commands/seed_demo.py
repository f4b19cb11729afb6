from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from templates_app.demo import DEMO_TEMPLATES
from templates_app.models import Template, Visibility

# What a demo definition sets of a version; its model settings and theme are the defaults.
DEMO_CONTENT_FIELDS = ("system_prompt", "body", "parameters")


class Command(BaseCommand):
    help = "Install or update the public demo templates (safe to run again)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        for demo in DEMO_TEMPLATES:
            template, created = Template.objects.get_or_create(
                slug=demo["slug"],
                defaults={
                    "name": demo["name"],
                    "description": demo["description"],
                    "visibility": Visibility.PUBLIC,
                },
            )
            current = template.published_version
            wanted = {field: demo[field] for field in DEMO_CONTENT_FIELDS}
            if current is None or any(getattr(current, f) != v for f, v in wanted.items()):
                version = template.create_version(**wanted)
                self.stdout.write(f"{template.slug}: version {version.number}")
            elif not created:
                self.stdout.write(f"{template.slug}: up to date")
