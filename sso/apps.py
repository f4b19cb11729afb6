from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = _("Single sign-on")

    def ready(self) -> None:
        from . import checks  # noqa: F401  (the OIDC_* settings, checked at start-up)
