from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)
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


@before_task_publish.connect
def _send_the_request_id(headers: dict[str, Any] | None = None, **kwargs: object) -> None:
    """A task sent while a request (or a task) is handled carries its request id along."""
    from . import logs

    given = logs.request_id.get()
    if given is not None and headers is not None:
        headers.setdefault("request_id", given)


@task_prerun.connect
def _take_the_request_id(sender: Any = None, **kwargs: object) -> None:
    if sender is None or getattr(sender.request, "is_eager", False):
        return  # run in the caller's process, inside its request (tests)
    from . import logs

    logs.forget()
    logs.request_id.set(getattr(sender.request, "request_id", None))


@task_postrun.connect
def _forget_the_request_id(sender: Any = None, **kwargs: object) -> None:
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from . import logs

    logs.forget()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _log_as_configured(logger: Any = None, **kwargs: object) -> None:
    """LOG_FORMAT=json in a worker too, whose handlers Celery sets up (its own formats otherwise)."""
    from django.conf import settings

    if logger is not None and settings.LOG_FORMAT == "json":
        from . import logs

        logs.use_json(logger)


@worker_init.connect
def _trace_the_worker(**kwargs: object) -> None:
    """Traces, when the OTEL_* variables ask for them (promptlab.tracing), before any child forks."""
    from . import metrics, tracing

    metrics.process_started()
    tracing.configure_from_environment()


@worker_process_init.connect
def _worker_process_started(**kwargs: object) -> None:
    from . import metrics

    metrics.process_started(forked=True)


@worker_process_shutdown.connect
def _worker_process_ended(**kwargs: object) -> None:
    # A prefork child ends without running atexit: its live gauges go here.
    from . import metrics

    metrics.process_ended()
