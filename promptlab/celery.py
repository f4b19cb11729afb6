from __future__ import annotations

import os

from celery import Celery

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
