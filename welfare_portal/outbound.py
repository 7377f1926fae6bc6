"""Calls to addresses someone else chose (partners' webhook URLs), never to our own network.

A URL a partner registers could name the cloud metadata service (169.254.169.254), the
database, Redis, or anything listening on loopback or the private network: a server-side
request forgery. So an outgoing call may only reach a public internet address over http or
https. ``check_url`` refuses any other URL when it is registered (``PublicURLValidator``),
and ``client`` makes the calls through a transport that resolves the host name itself,
checks every address and connects to the address it checked: a name that resolved to a
public address at registration and resolves to a private one at the call (DNS rebinding)
is refused too, with no window between the check and the connection. TLS still sends the
host name (SNI) and verifies the certificate for it, never for the bare address.

Only the networks in ``settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS`` (CIDRs, empty by default)
are let through anyway: the tests' listeners on 127.0.0.1, a partner on a private link.
"""

import ipaddress
import socket
import time
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = {"http": 80, "https": 443}
# Python's ``is_global`` leaves these out or treats them as global; named here explicitly.
SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # an IPv4 address inside (RFC 6052)


class OutboundRefused(Exception):  # noqa: N818 - a refusal, like PermissionDenied
    """A destination this server must not call."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped ``::ffff:a.b.c.d``, 6to4, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """An address on the public internet: not loopback, link-local, private, shared,
    multicast, reserved or unspecified, nor one of those inside an IPv6 address."""
    if address.version == 6:
        embedded = _embedded_ipv4(address)
        if address.ipv4_mapped is not None:
            return is_public(embedded)  # ::ffff:0:0/96 itself counts as private
        if embedded is not None and not is_public(embedded):
            return False
        if address.is_site_local:  # fec0::/10, deprecated but still routed by some
            return False
    elif address in SHARED:
        return False
    return address.is_global and not (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def allowed_private_networks() -> list[Network]:
    """``settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS`` as networks (read on each call, so a
    test's setting applies)."""
    return [
        ipaddress.ip_network(cidr.strip(), strict=False)
        for cidr in getattr(settings, "WEBHOOK_ALLOWED_PRIVATE_NETWORKS", [])
        if cidr.strip()
    ]


def is_permitted(address: Address, allowed: Iterable[Network] = ()) -> bool:
    candidates = [address]
    if address.version == 6 and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    in_allowed = any(
        candidate.version == network.version and candidate in network
        for candidate in candidates
        for network in allowed
    )
    return in_allowed or is_public(address)


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` stands for, in the resolver's order; an IP literal as is.
    Raises ``socket.gaierror`` for a name that does not resolve."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    addresses: list[Address] = []
    for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def checked_addresses(host: str, port: int, allowed: Sequence[Network]) -> list[Address]:
    """The addresses to connect to; refused whole when any of them is not permitted (a name
    that also resolves to a private address is not to be trusted with the others)."""
    addresses = resolve(host, port)
    for address in addresses:
        if not is_permitted(address, allowed):
            named = host if host.strip("[]") == str(address) else f"{host} ({address})"
            raise OutboundRefused(f"{named} is not a public internet address")
    return addresses


def check_url(url: str, allowed: Sequence[Network] = ()) -> None:
    """Refuse (``OutboundRefused``) a URL that is not http(s) or whose host is or resolves to
    an address that is not permitted. ``socket.gaierror`` when the host does not resolve."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise OutboundRefused(f"scheme {parts.scheme!r} is not http or https")
    if not parts.hostname:
        raise OutboundRefused("no host")
    try:
        port = parts.port or SCHEMES[parts.scheme.lower()]
    except ValueError as error:
        raise OutboundRefused("invalid port") from error
    checked_addresses(parts.hostname, port, allowed)


@deconstructible
class PublicURLValidator:
    """A model field validator: the URL must be http(s) on a public address. A host name is
    resolved now; one that does not resolve at all is let through (a resolver's bad moment
    must not block a registration), since every call checks again anyway."""

    scheme_message = _("Enter an address starting with https:// or http://.")
    address_message = _(
        "%(host)s is not a public internet address (it is loopback, private, link-local or "
        "reserved), so no calls are made to it."
    )

    def __call__(self, value: str) -> None:
        parts = urlsplit(value)
        if parts.scheme.lower() not in SCHEMES:
            raise ValidationError(self.scheme_message, code="scheme")
        try:
            check_url(value, allowed_private_networks())
        except (socket.gaierror, UnicodeError):
            return
        except OutboundRefused as error:
            raise ValidationError(
                self.address_message, code="private_address", params={"host": parts.hostname}
            ) from error

    def __eq__(self, other) -> bool:
        return isinstance(other, PublicURLValidator)

    def __hash__(self) -> int:
        return hash(PublicURLValidator)


# --- The transport: resolve, check, connect to the checked address ------------------------


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose reads and writes all end by one deadline: httpx's timeout bounds
    each operation, so an endpoint trickling one byte at a time would otherwise hold the
    call (and the claim on its delivery) for ever."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float):
        self._stream = stream
        self._deadline = deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the call took longer than its time limit")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        tls = self._stream.start_tls(
            ssl_context, server_hostname, self._left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _CheckedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, resolving and checking before it connects."""

    def __init__(self, *, allowed: Sequence[Network], deadline: float):
        self._sync = httpcore.SyncBackend()
        self._allowed = allowed
        self._deadline = deadline

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = checked_addresses(host, port, self._allowed)
        except (socket.gaierror, UnicodeError) as error:
            raise httpcore.ConnectError(f"{host}: {error}") from error
        failure: Exception = httpcore.ConnectError(f"{host}: no address")
        for address in addresses:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise httpcore.ConnectTimeout("the call took longer than its time limit")
            try:
                stream = self._sync.connect_tcp(
                    str(address),  # the checked address, never the name again
                    port,
                    timeout=left if timeout is None else min(timeout, left),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise OutboundRefused("no calls to local sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class CheckedTransport(httpx.HTTPTransport):
    """httpx's transport on a connection pool with the checking backend. (httpx 0.28 takes
    no network backend, so the pool it builds is replaced; ``handle_request`` and ``close``
    use only ``self._pool``. tests/test_outbound.py fails if that ever changes.)"""

    def __init__(self, *, allowed: Sequence[Network], deadline: float):
        ssl_context = httpx.create_ssl_context()
        super().__init__(verify=ssl_context, retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=1,
            retries=0,
            network_backend=_CheckedBackend(allowed=allowed, deadline=deadline),
        )


def client(*, timeout: float, allowed: Sequence[Network] | None = None) -> httpx.Client:
    """An HTTP client for one call to a partner: public addresses only (and ``allowed``,
    by default the setting's networks), no redirects followed, no proxy or .netrc from the
    environment, and done within ``timeout`` seconds in all (DNS aside)."""
    allowed = allowed_private_networks() if allowed is None else allowed
    deadline = time.monotonic() + timeout
    return httpx.Client(
        transport=CheckedTransport(allowed=allowed, deadline=deadline),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
    )
