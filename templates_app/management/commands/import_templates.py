from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from templates_app.formats import FormatError, extensions
from templates_app.formats.service import import_template, read_file
from templates_app.models import Template, Visibility


class Command(BaseCommand):
    help = (
        "Import every template file in a folder (PromptLab .md, Prompd .prmd, Prompty .prompty, "
        "Dotprompt .prompt), reporting per file; exits non-zero when any file fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--owner", help="Email of the user who will own the templates (default: none).")
        parser.add_argument("--visibility", choices=Visibility.values, help="Override what the files say.")
        parser.add_argument("--recursive", action="store_true", help="Also look in subfolders.")
        parser.add_argument(
            "--skip-existing", action="store_true", help="Skip files whose template slug already exists."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["folder"]
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        owner = None
        if options["owner"]:
            owner = User.objects.filter(email__iexact=options["owner"]).first()
            if owner is None:
                raise CommandError(f"No user with the email {options['owner']}.")
        pattern = "**/*" if options["recursive"] else "*"
        files = sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in extensions())
        imported = failed = skipped = 0
        for path in files:
            name = path.relative_to(folder)
            try:
                with path.open("rb") as file:
                    text = read_file(file)
                if path.suffix.lower() == ".md" and not text.lstrip("\ufeff").startswith("---"):
                    skipped += 1
                    self.stdout.write(f"SKIP  {name}: a Markdown file without front matter")
                    continue
                if options["skip_existing"] and self._exists(text, path):
                    skipped += 1
                    self.stdout.write(f"SKIP  {name}: its template exists")
                    continue
                template, warnings = import_template(
                    text, owner=owner, filename=path.name, visibility=options["visibility"]
                )
            except FormatError as exc:
                failed += 1
                self.stderr.write(self.style.ERROR(f"ERROR {name}:"))
                for error in exc.errors:
                    self.stderr.write(f"      - {error}")
                continue
            imported += 1
            self.stdout.write(
                self.style.SUCCESS(f"OK    {name} → {template.slug}") + f" ({len(warnings)} warnings)"
            )
            for warning in warnings:
                self.stdout.write(f"      - {warning}")
        summary = f"{imported} imported, {failed} failed, {skipped} skipped, of {len(files)} files."
        if failed:
            raise CommandError(summary)
        self.stdout.write(summary)

    def _exists(self, text: str, path: Path) -> bool:
        from templates_app.formats import format_for_filename

        try:
            slug = format_for_filename(path.name).parse(text).slug or path.stem
        except FormatError:
            return False
        return Template.all_objects.filter(slug=slug).exists()
