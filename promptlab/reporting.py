"""What Django's error reports (the DEBUG 500 page, error e-mails) may show of the settings."""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretSettingsFilter(SafeExceptionReporterFilter):
    """Django's filter hides settings named like API, KEY, PASS, SECRET, TOKEN; ours also
    hides those that hold connection URLs with credentials in them (DATABASE_URL and
    DATABASES, REDIS_URL, CELERY_BROKER_URL, CACHES), should DEBUG ever be on where
    someone else can reach an error page."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE|URL|BROKER|CACHES|REDIS", flags=re.I
    )
