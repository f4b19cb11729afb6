from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

from .broker import use_promptlab_transports

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptlab.settings")
use_promptlab_transports()

app = Celery("promptlab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folder(sender: Celery, **kwargs: object) -> None:
    # kombu's filesystem transport expects its folder to exist.
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        settings.CELERY_BROKER_DIR.mkdir(parents=True, exist_ok=True)


@task_prerun.connect
@task_postrun.connect
def _task_is_a_unit_of_database_work(sender: Any = None, **kwargs: object) -> None:
    """A task starts and ends its database work as a request does (Django's request signals).

    With CELERY_DB_REUSE_MAX set (settings) Celery's fixup no longer closes the
    connections, and the psycopg pool with them, around every task. Django's own
    end-of-work step gives the connection back to the process's pool (or drops
    one that failed), and the pool's check hands the next task a live one.
    """
    if sender is not None and getattr(sender.request, "is_eager", False):
        return  # run in the caller's process, maybe inside its transaction (tests)
    close_old_connections()
