"""The configured OpenID Connect provider: whether there is one, and its endpoints.

mozilla-django-oidc wants each endpoint in a setting of its own; an operator gives the
issuer alone (``OIDC_ISSUER``) and the endpoints come from its discovery document,
fetched on first need and kept for the life of the process (one per issuer: the tests
start providers on new ports). A failed fetch is not kept, so the next sign-in tries again.
"""

from __future__ import annotations

import functools
from typing import Any

import requests
from django.conf import settings


class Unreachable(Exception):
    """The provider's discovery document could not be read (down, or not a provider)."""


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER and settings.OIDC_RP_CLIENT_ID and settings.OIDC_RP_CLIENT_SECRET)


def name() -> str:
    return settings.OIDC_PROVIDER_NAME


def configuration() -> dict[str, Any]:
    """The discovery document of ``OIDC_ISSUER``; raises ``Unreachable``."""
    return _discover(settings.OIDC_ISSUER)


def endpoint(key: str) -> str:
    value = configuration().get(key)
    if not isinstance(value, str) or not value:
        raise Unreachable(f"the discovery document names no {key}")
    return value


@functools.lru_cache(maxsize=4)
def _discover(issuer: str) -> dict[str, Any]:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise Unreachable(f"{url}: {error}") from error
    # OpenID Connect Discovery 1.0, section 4.3: the issuer must be the one asked for,
    # or a document on one host could send tokens to another's endpoints.
    if not isinstance(document, dict) or str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise Unreachable(f"{url} names another issuer")
    return document
