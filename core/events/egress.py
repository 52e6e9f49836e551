"""Where webhooks may go: public addresses only, unless the operator allows private ones.

A webhook URL is chosen by a merchant, so without a guard paycore would POST
wherever a merchant points it: the cloud metadata service, an admin port on
localhost, a database in the private network (server-side request forgery).
The guard runs when the connection is made, on the addresses the name
resolves to *then*, so a name that resolved to a public address at
registration and to 10.0.0.5 later (DNS rebinding) is still refused.

``is_public`` is pure; ``PublicOnlyResolver`` plugs it into aiohttp.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver


class BlockedAddressError(OSError):
    """The webhook's host is (or resolves to) an address paycore may not call."""


def is_public(address: str) -> bool:
    """Whether ``address`` (an IPv4 or IPv6 literal) is a public, routable unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    return ip.is_global and not ip.is_multicast


def check_literal_host(host: str) -> None:
    """Refuse a URL whose host is a non-public IP literal (names are checked on resolution)."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return  # a name: PublicOnlyResolver checks what it resolves to
    if not is_public(host.strip("[]")):
        raise BlockedAddressError(f"{host} is not a public address")


class PublicOnlyResolver(AbstractResolver):
    """An aiohttp resolver that drops every non-public address (and fails if none is left)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The public addresses of ``host``; BlockedAddressError when it has none."""
        resolved = await self._inner.resolve(host, port, family)
        public = [entry for entry in resolved if is_public(entry["host"])]
        if not public:
            raise BlockedAddressError(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        """Close the wrapped resolver."""
        await self._inner.close()
