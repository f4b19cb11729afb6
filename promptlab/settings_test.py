"""Test settings: the real settings with a var folder of its own, so that the
test worker and `make run` never share a broker folder or a SQLite file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("PROMPTLAB_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
# The fake provider server listens on 127.0.0.1; named connections in tests point at it.
os.environ.setdefault("PROVIDER_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
# The tests' webhook receivers listen on http://127.0.0.1; the refusal tests turn these off.
os.environ.setdefault("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", "1")
os.environ.setdefault("WEBHOOKS_ALLOW_HTTP", "1")
# A fresh metrics directory per test session, which the processes the suite starts (they
# inherit the environment) share with it: /metrics in the tests adds up theirs.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="promptlab-metrics-"))

from .settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
OFFLINE_PROVIDER_DELAY = float(os.environ.get("OFFLINE_PROVIDER_DELAY", "0.005"))
JOB_OUTPUT_FLUSH_INTERVAL = 0.05

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # How long a process waits for a connection from its pool before it gives up (10 s in
    # the settings). The suite's worker waits less (tests/conftest.py): its tests with a
    # database refusing connections wait that long before the task's retry.
    DATABASES["default"]["OPTIONS"]["pool"]["timeout"] = float(  # noqa: F405
        os.environ.get("TEST_DATABASE_POOL_TIMEOUT", "10")
    )
