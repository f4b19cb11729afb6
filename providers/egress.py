"""Where a named provider connection may send a request, and with which key.

A ProviderConnection names a base URL and the environment variable holding its
key, and every run of a template on it sends that variable's value to that URL
as ``Authorization: Bearer …``. Unchecked, whoever can write a connection can
send any of the server's secrets (``DATABASE_URL``, ``SECRET_KEY``, the
built-in providers' keys) anywhere, or make the server call its own internal
services. So:

- only variables named ``PROMPTLAB_PROVIDER_…`` may hold a connection's key;
- a base URL is plain http(s), with a host, without credentials or a fragment;
- it may not reach an internal address (loopback, private ranges, link-local
  and the cloud metadata address, carrier-grade NAT, multicast, unspecified)
  unless ``PROVIDER_ALLOWED_NETWORKS`` names its network; an IPv4 address carried in
  an IPv6 one (mapped, IPv4-compatible, NAT64, 6to4) is judged as itself.

The model's ``clean()`` checks all of it, resolving host names. The provider
registry checks the URL and key name again when it builds a client, and that
client connects only through ``GuardedTransport``, which checks the address it
is about to connect to on every connection (redirects included). Checking the
address actually used, rather than a name resolved earlier, is what stops a
host name that resolves to a public address at save time and to an internal
one later (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore2
import httpx2
from django.conf import settings
from django.utils.translation import gettext as _

KEY_ENV_PREFIX = "PROMPTLAB_PROVIDER_"
_KEY_ENV_NAME = re.compile(rf"{KEY_ENV_PREFIX}[A-Z0-9_]+")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(httpcore2.ConnectError):
    """A connection to an address the egress rules do not allow.

    A connect error to the HTTP stack, so httpx2 and the SDKs report it as theirs
    (raised from this one); the provider finds it among the causes and fails the
    job for good instead of retrying.
    """


def key_env_problem(name: str) -> str | None:
    """Why this variable may not hold a connection's key; None when it may (or is empty)."""
    if not name or _KEY_ENV_NAME.fullmatch(name):
        return None
    return _(
        "Only environment variables whose names start with %(prefix)s (capital letters, digits and "
        "underscores) may hold a connection's key."
    ) % {"prefix": KEY_ENV_PREFIX}


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in settings.PROVIDER_ALLOWED_NETWORKS]


# NAT64's well-known prefix (RFC 6052): a gateway forwards 64:ff9b::a.b.c.d to a.b.c.d.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Deprecated IPv4-compatible addresses (::a.b.c.d), which a host with an automatic
# tunnel (Linux's sit0) still sends to a.b.c.d.
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# Local-use NAT64 (RFC 8215): translated by the site's own gateways, to whatever they
# choose, so never judged public. Python counts it as global.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _unmapped(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries and is delivered to, if any: judge that.

    ::ffff:127.0.0.1 (IPv4-mapped) is 127.0.0.1; 64:ff9b::a9fe:a9fe (NAT64) reaches
    169.254.169.254 through a NAT64 gateway; 2002:a9fe:a9fe::1 (6to4) is routed to the
    6to4 relay at 169.254.169.254; ::127.0.0.1 (IPv4-compatible) is 127.0.0.1 over an
    automatic tunnel. Python counts the last three as global addresses."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def unmapped(address: IPAddress) -> IPAddress:
    """The address an address is delivered to, the one to judge (``_unmapped``)."""
    return _unmapped(address)


def is_public_address(address: IPAddress) -> bool:
    """A public unicast address: not internal by any of the rules above."""
    address = _unmapped(address)
    # is_global is False for loopback, RFC 1918, link-local (169.254.169.254 among
    # them), 100.64/10, unique-local IPv6, documentation and reserved ranges.
    return address.is_global and not address.is_multicast and address not in _LOCAL_NAT64


def address_allowed(address: IPAddress) -> bool:
    """Public unicast addresses, and any address inside PROVIDER_ALLOWED_NETWORKS."""
    if any(_unmapped(address) in network for network in allowed_networks()):
        return True
    return is_public_address(address)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host name resolves to (raises OSError when it does not resolve)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def base_url_problems(url: str, *, resolve_host: bool) -> list[str]:
    """What is wrong with a connection's base URL, for people (empty when nothing is).

    With ``resolve_host``, a host name is resolved and every address it resolves to
    must be allowed; without, only a literal IP address is judged (the transport
    judges resolved addresses when it connects).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return [_("Enter a valid URL.")]
    problems = []
    if parts.scheme not in ("http", "https"):
        problems.append(_("The base URL must start with http:// or https://."))
    if parts.username is not None or parts.password is not None:
        problems.append(_("The base URL must not contain a user name or password; use the key variable."))
    if parts.fragment or url.endswith("#"):
        problems.append(_("The base URL must not contain a fragment (#…)."))
    host = parts.hostname or ""
    if not host:
        problems.append(_("The base URL must name a host."))
    if problems:
        return problems
    literal = _literal_address(host)
    if literal is not None:
        addresses = [literal]
    elif resolve_host:
        try:
            addresses = resolve(host, port or (443 if parts.scheme == "https" else 80))
        except (OSError, UnicodeError):
            return [_("The host name “%(host)s” does not resolve.") % {"host": host}]
    else:
        addresses = []
    refused = sorted({str(_unmapped(address)) for address in addresses if not address_allowed(address)})
    if refused:
        problems.append(
            _(
                "The base URL reaches an internal address (%(addresses)s), which PromptLab does not "
                "connect to unless PROVIDER_ALLOWED_NETWORKS allows it."
            )
            % {"addresses": ", ".join(refused)}
        )
    return problems


class _GuardedBackend(httpcore2.SyncBackend):
    """Resolves the host itself, refuses if any address is not allowed, and connects
    to the very addresses it checked (no second lookup to be answered differently)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        try:
            addresses = resolve(host, port)
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc)) from exc
        refused = [address for address in addresses if not address_allowed(address)]
        if refused:
            raise AddressRefused(f"{host} resolves to {refused[0]}, which is not an allowed address")
        last_error: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error


class GuardedTransport(httpx2.HTTPTransport):
    """httpx2's transport, connecting only to allowed addresses; never through a proxy
    (a proxy would make the check judge the proxy's address, not the provider's)."""

    def __init__(self) -> None:
        limits = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(trust_env=False, limits=limits)
        # The transport offers no way to choose the network backend, so its pool is
        # rebuilt with ours. tests/test_provider_connections.py fails if this stops
        # taking effect (a refused address would then be reached).
        self._pool = httpcore2.ConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(),
        )


def is_refused_address(error: BaseException) -> bool:
    """Whether an error (or one it was raised from) is a refused address."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, AddressRefused):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def connection_problems(base_url: str, api_key_env: str, *, resolve_host: bool) -> dict[str, list[str]]:
    """A connection's problems by field (``base_url``, ``api_key_env``); empty when it may be used."""
    problems: dict[str, list[str]] = {}
    if url_problems := base_url_problems(base_url, resolve_host=resolve_host):
        problems["base_url"] = url_problems
    if key_problem := key_env_problem(api_key_env):
        problems["api_key_env"] = [key_problem]
    return problems
