"""Where a webhook may be sent, and the one HTTP client that sends it.

A webhook URL is written by any user, and the server posts to it: unchecked, anyone
could make PromptLab call its own internal services or the cloud metadata service
(server-side request forgery). So:

- the URL is https (http only with ``WEBHOOKS_ALLOW_HTTP``), with a host, without
  credentials or a fragment;
- no address that is loopback, private, link-local, carrier-grade NAT, unique-local,
  reserved or documentation (``providers.egress.is_public_address``; an IPv4 address
  carried in an IPv6 one is judged as itself) unless ``WEBHOOKS_ALLOW_PRIVATE_ADDRESSES``
  allows them; the cloud metadata addresses, multicast and the unspecified address
  are refused even then;
- checked on registration (names resolved, for an early, clear error) and again on
  every delivery, on the address actually connected to: ``post`` resolves the name
  once, refuses if any address it resolves to is refused, and connects to the very
  address it checked, sending the name as Host header and TLS server name (SNI and
  certificate check). There is no second lookup that a DNS answer changed in between
  (DNS rebinding) could redirect;
- redirects are not followed (a 3xx is a failed attempt), no proxy is used, timeouts
  are short and at most ``WEBHOOKS_RESPONSE_MAX_BYTES`` of a response are read.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from providers.egress import IPAddress, is_public_address, resolve, unmapped

# Resolves a host name (and port) to its addresses; raises OSError when it does not.
Resolver = Callable[[str, int], list[IPAddress]]

# Metadata services of the clouds (AWS, its IPv6 endpoint and ECS task metadata, Azure
# and GCP share 169.254.169.254; Alibaba; Oracle): never a webhook's destination.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192")
)

URL_MAX_LENGTH = 2000


def system_resolver(host: str, port: int) -> list[IPAddress]:
    return resolve(host, port)


def address_refused(address: IPAddress) -> bool:
    """Whether a webhook may not be sent to this address."""
    address = unmapped(address)
    if address in METADATA_ADDRESSES or address.is_multicast or address.is_unspecified:
        return True
    if is_public_address(address):
        return False
    return not settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _refusal_message(refused: list[IPAddress]) -> str:
    return _(
        "The URL reaches an address webhooks are not sent to (%(addresses)s): a private, loopback, "
        "link-local, reserved or cloud metadata address."
    ) % {"addresses": ", ".join(sorted({str(unmapped(address)) for address in refused}))}


def url_problems(url: str, *, resolver: Resolver | None = None) -> list[str]:
    """What is wrong with a webhook URL, for people (empty when nothing is).

    The host is resolved (with ``resolver``, the system's by default) and every address
    it resolves to judged; a delivery judges them again when it connects.
    """
    if len(url) > URL_MAX_LENGTH:
        return [_("The URL is too long (at most %(max)d characters).") % {"max": URL_MAX_LENGTH}]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [_("Enter a valid URL.")]
    schemes = ("https", "http") if settings.WEBHOOKS_ALLOW_HTTP else ("https",)
    problems = []
    if parts.scheme not in schemes:
        if settings.WEBHOOKS_ALLOW_HTTP:
            problems.append(_("The URL must start with https:// or http://."))
        else:
            problems.append(_("The URL must start with https://."))
    if parts.username is not None or parts.password is not None:
        problems.append(_("The URL must not contain a user name or password."))
    if parts.fragment or url.endswith("#"):
        problems.append(_("The URL must not contain a fragment (#…)."))
    if any(character.isspace() or ord(character) < 32 for character in url):
        problems.append(_("The URL must not contain spaces or control characters."))
    host = parts.hostname or ""
    if not host:
        problems.append(_("The URL must name a host."))
    if problems:
        return problems
    try:
        addresses = _addresses(host, port or _default_port(parts.scheme), resolver or system_resolver)
    except (OSError, UnicodeError, ValueError):
        return [_("The host name “%(host)s” does not resolve.") % {"host": host}]
    refused = [address for address in addresses if address_refused(address)]
    if refused:
        return [_refusal_message(refused)]
    return []


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _addresses(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    addresses = resolver(host, port)
    if not addresses:
        raise OSError(f"{host} has no address")
    return addresses


@dataclass(frozen=True)
class Outcome:
    """What one attempt to post a webhook came to."""

    status_code: int | None
    response_excerpt: str
    duration_ms: int
    error_code: str  # "" for a 2xx answer
    error: str  # the technical detail (ERROR_CODES says what the code means); "" for a 2xx answer
    address: str = ""  # the address connected to, if any

    @property
    def succeeded(self) -> bool:
        return not self.error_code


# Why an attempt failed: the attempts' ``error_code``, and what it means for people
# (the attempt's ``error`` holds the technical detail).
ERROR_CODES = {
    "refused_address": gettext_lazy("The URL reaches an address webhooks are not sent to."),
    "does_not_resolve": gettext_lazy("The host name does not resolve."),
    "invalid_url": gettext_lazy("The URL is not one webhooks are sent to."),
    "connection_failed": gettext_lazy("No connection could be made."),
    "timeout": gettext_lazy("No answer in time."),
    "tls_error": gettext_lazy("The TLS handshake or the certificate check failed."),
    "redirect": gettext_lazy("The answer was a redirect, which is not followed."),
    "http_error": gettext_lazy("The answer's status was not 2xx."),
    "protocol_error": gettext_lazy("The answer was not HTTP."),
}


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to one address already checked, under the URL's host name.

    http.client sends ``self.host`` as the Host header; this connection opens its
    socket to ``address`` instead of looking the name up again, and wraps it in TLS
    with the name as server name (SNI, and the name the certificate must match).
    """

    def __init__(
        self,
        host: str,
        port: int,
        address: IPAddress,
        *,
        tls: ssl.SSLContext | None,
        connect_timeout: float,
        timeout: float,
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address
        self.tls = tls
        self.connect_timeout = connect_timeout

    def connect(self) -> None:
        sock = socket.create_connection((str(self.address), self.port), timeout=self.connect_timeout)
        sock.settimeout(self.timeout)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def post(url: str, body: bytes, headers: dict[str, str], *, resolver: Resolver | None = None) -> Outcome:
    """POST ``body`` to ``url`` under the rules above; never raises for the network's faults."""
    started = time.monotonic()

    def outcome(
        code: str, error: str, status: int | None = None, excerpt: str = "", address: str = ""
    ) -> Outcome:
        duration = int((time.monotonic() - started) * 1000)
        return Outcome(status, excerpt, duration, code, error, address)

    try:
        parts = urlsplit(url)
        port = parts.port or _default_port(parts.scheme)
    except ValueError:
        return outcome("invalid_url", url[:200])
    schemes = ("https", "http") if settings.WEBHOOKS_ALLOW_HTTP else ("https",)
    host = parts.hostname or ""
    if parts.scheme not in schemes or not host or parts.username is not None:
        return outcome("invalid_url", url[:200])
    try:
        addresses = _addresses(host, port, resolver or system_resolver)
    except (OSError, UnicodeError, ValueError) as exc:
        return outcome("does_not_resolve", str(exc))
    refused = [address for address in addresses if address_refused(address)]
    if refused:
        # All or nothing: a name with one refused address is refused, so that no order
        # of the answers (or a failed first connection) reaches the refused one.
        listed = ", ".join(str(address) for address in refused)
        return outcome("refused_address", listed)
    tls = ssl.create_default_context() if parts.scheme == "https" else None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    last: Outcome | None = None
    for address in addresses:
        connection = _PinnedConnection(
            host,
            port,
            address,
            tls=tls,
            connect_timeout=settings.WEBHOOKS_CONNECT_TIMEOUT,
            timeout=settings.WEBHOOKS_TIMEOUT,
        )
        try:
            try:
                connection.connect()
            except TimeoutError as exc:
                last = outcome("timeout", str(exc) or "timed out", address=str(address))
                continue
            except ssl.SSLError as exc:
                return outcome("tls_error", str(exc), address=str(address))
            except OSError as exc:
                last = outcome("connection_failed", str(exc), address=str(address))
                continue
            return _exchange(connection, target, body, headers, started, outcome, str(address))
        finally:
            connection.close()
    assert last is not None
    return last


def _exchange(
    connection: _PinnedConnection,
    target: str,
    body: bytes,
    headers: dict[str, str],
    started: float,
    outcome: Callable[..., Outcome],
    address: str,
) -> Outcome:
    deadline = started + settings.WEBHOOKS_TIMEOUT
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = _read_capped(response, deadline)
    except TimeoutError as exc:
        return outcome("timeout", str(exc) or "timed out", address=address)
    except ssl.SSLError as exc:
        return outcome("tls_error", str(exc), address=address)
    except (http.client.HTTPException, ValueError) as exc:
        return outcome("protocol_error", repr(exc), address=address)
    except OSError as exc:
        return outcome("connection_failed", str(exc), address=address)
    status = response.status
    if 200 <= status < 300:
        return outcome("", "", status, excerpt, address)
    if 300 <= status < 400:
        where = response.getheader("Location", "")
        return outcome("redirect", f"Location: {where[:200]}", status, excerpt, address)
    return outcome("http_error", f"HTTP {status}", status, excerpt, address)


def _read_capped(response: http.client.HTTPResponse, deadline: float) -> str:
    """At most WEBHOOKS_RESPONSE_MAX_BYTES of the body, and only until the deadline: a
    receiver that trickles its answer byte by byte holds the worker no longer."""
    limit = settings.WEBHOOKS_RESPONSE_MAX_BYTES
    chunks: list[bytes] = []
    size = 0
    while size < limit and time.monotonic() < deadline:
        chunk = response.read1(min(1024, limit - size)) if hasattr(response, "read1") else response.read(1024)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")
