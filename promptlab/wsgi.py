from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptlab.settings")

from . import metrics, tracing  # noqa: E402  (after the settings module is named: they read it)

metrics.process_started()
# Before the handler loads the middleware: Django's instrumentation adds its own.
tracing.configure_from_environment()
application = get_wsgi_application()
