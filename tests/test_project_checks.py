"""Django's own checks over the whole project: what `make run` meets before it serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command


@pytest.mark.django_db  # some checks read the database (SQLite's, on the embedded defaults)
def test_system_checks_pass() -> None:
    # pytest-django never runs them; a model method named `check` once broke `migrate`.
    call_command("check", fail_level="ERROR", stdout=StringIO())


@pytest.mark.django_db
def test_models_and_migrations_agree() -> None:
    call_command("makemigrations", check=True, dry_run=True, stdout=StringIO())


def _settings_in_a_fresh_process(**env: str) -> dict[str, object]:
    """What the settings pick, and which embedded modules load, with only ``env`` set."""
    code = """
import json, sys
import django
django.setup()
import promptlab.celery, promptlab.urls
from django.conf import settings
from django.db import connection
from kombu.transport import TRANSPORT_ALIASES
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "filesystem_transport": TRANSPORT_ALIASES["filesystem"],
    "embedded_loaded": sorted(m for m in sys.modules if m.startswith("promptlab.embedded")),
}))
"""
    unset = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    base = {key: value for key, value in os.environ.items() if key not in unset}
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "promptlab.settings", "SECRET_KEY": "checks-only", **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_embedded_workarounds_serve_only_the_embedded_mode() -> None:
    embedded = _settings_in_a_fresh_process()
    assert embedded["engine"] == "promptlab.embedded.sqlite_backend"
    assert embedded["cache"] == "promptlab.embedded.cache.AtomicDatabaseCache"
    assert embedded["filesystem_transport"] == "promptlab.embedded.broker:Transport"
    # With services configured (nothing connects here), nothing of promptlab.embedded loads.
    services = _settings_in_a_fresh_process(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none", REDIS_URL="redis://127.0.0.1:1/0"
    )
    assert services["engine"] == "django.db.backends.postgresql"
    assert services["cache"] == "promptlab.cache.RedisCache"
    assert services["embedded_loaded"] == []
