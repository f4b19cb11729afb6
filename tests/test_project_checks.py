"""Django's own checks over the whole project: what `make run` meets before it serves."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db  # some checks read the database (SQLite's, on the embedded defaults)
def test_system_checks_pass() -> None:
    # pytest-django never runs them; a model method named `check` once broke `migrate`.
    call_command("check", fail_level="ERROR", stdout=StringIO())


@pytest.mark.django_db
def test_models_and_migrations_agree() -> None:
    call_command("makemigrations", check=True, dry_run=True, stdout=StringIO())
