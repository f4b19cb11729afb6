"""Benchmark settings: the real ones plus a hello-world view to compare against."""

from __future__ import annotations

from promptlab.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
