"""The sites that may embed a template's form: origins, checked and written one way.

An origin goes into the embed page's ``Content-Security-Policy: frame-ancestors``
header as it is stored, so only plain ``https://host[:port]`` passes (no path, no
wildcard, nothing a header could split on). Plain ``http://`` is accepted only for
loopback hosts (``localhost``, ``127.0.0.1``, ``[::1]``), which browsers already treat
as secure contexts: a site under development on one's own machine.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

MAX_EMBED_ORIGINS = 20
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_origin(text: Any) -> str:
    """``text`` as an origin (``https://example.com:8443``: lower-case, no default port,
    no trailing slash); ValidationError naming it otherwise."""
    if not isinstance(text, str):
        raise ValidationError(_("Each site must be written as text, such as https://example.com."))
    candidate = text.strip()
    if candidate.endswith("/"):
        candidate = candidate[:-1]
    error = ValidationError(
        _("“%(origin)s” is not a site's address: write https://host or https://host:port, with no path."),
        code="invalid_origin",
        params={"origin": text.strip()[:200]},
    )
    if not candidate or len(candidate) > 300 or any(char.isspace() or ord(char) < 33 for char in candidate):
        raise error
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError:
        raise error from None
    if parts.path or parts.query or parts.fragment or "?" in candidate or "#" in candidate:
        raise error
    if parts.username is not None or parts.password is not None or not parts.hostname:
        raise error
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if ":" in host:  # an IPv6 address, written in brackets
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise error from None
        host = f"[{host}]"
    elif not all(_LABEL.match(label) for label in host.split(".")):
        raise error
    if scheme not in ("http", "https"):
        raise error
    if scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ValidationError(
            _("“%(origin)s” must use https:// (plain http:// is accepted only for localhost)."),
            code="insecure_origin",
            params={"origin": text.strip()[:200]},
        )
    default_port = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" if port in (None, default_port) else f"{scheme}://{host}:{port}"


def normalize_origins(values: Any) -> list[str]:
    """Each origin normalized, duplicates dropped, in order; ValidationError listing
    every one that is not an origin."""
    if not isinstance(values, list):
        raise ValidationError(_("The sites must be a list of addresses."), code="invalid")
    if len(values) > MAX_EMBED_ORIGINS:
        raise ValidationError(
            _("At most %(limit)d sites may embed a form."),
            code="too_many",
            params={"limit": MAX_EMBED_ORIGINS},
        )
    origins: list[str] = []
    errors: list[ValidationError] = []
    for value in values:
        try:
            origin = normalize_origin(value)
        except ValidationError as exc:
            errors.append(exc)
            continue
        if origin not in origins:
            origins.append(origin)
    if errors:
        raise ValidationError(errors)
    return origins


def validate_embed_origins(values: Any) -> None:
    """The model field's validator: every entry an origin as ``normalize_origin`` writes it."""
    if normalize_origins(values) != values:
        raise ValidationError(_("Write each site once, as https://host[:port]."), code="not_normalized")


def origins_from_text(text: str) -> list[str]:
    """The editor's text box: one site per line (commas and spaces separate too)."""
    return [part for part in re.split(r"[\s,]+", text) if part]
