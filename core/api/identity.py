"""Who is calling: the one place that turns gRPC call metadata into a ``Caller``.

Callers send their API key as ``authorization: Bearer <key>``; a platform
(superadmin) key may add ``x-paycore-merchant-id: <merchant>`` to act for that
merchant. The checks themselves live in ``core.auth.authenticator``; this
module only reads metadata and the peer address. Handlers only ever see a
``Caller``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from core.auth.authenticator import MERCHANT_HEADER, Authenticator, Credentials
from core.auth.caller import Caller
from core.domain.errors import PaycoreError, Reason

__all__ = ["AUTHORIZATION_HEADER", "MERCHANT_HEADER", "ApiKeyIdentity", "Caller", "Metadata"]

AUTHORIZATION_HEADER = "authorization"
_BEARER = re.compile(r"[Bb]earer +(\S+) *")
_PEER = re.compile(r"(?:ipv4:(?P<v4>[^:]+)|ipv6:\[(?P<v6>[^\]]+)\]):\d+")

Metadata = Sequence[tuple[str, str | bytes]]


class IdentityResolver(Protocol):
    """Turns call metadata into a Caller, or raises UNAUTHENTICATED."""

    async def authenticate(self, metadata: Metadata, peer: str) -> Caller:
        """The caller, from the call's metadata; ``peer`` is grpc's ``context.peer()``."""
        ...


def _values(metadata: Metadata, key: str) -> list[str | bytes]:
    return [value for name, value in metadata if name == key]


def peer_address(peer: str) -> str:
    """The address in grpc's ``context.peer()`` without its port.

    ``ipv4:10.0.0.7:5123`` -> ``10.0.0.7``, ``ipv6:[::1]:5123`` -> ``::1``.
    """
    match = _PEER.fullmatch(peer)
    if match:
        return match.group("v4") or match.group("v6")
    return peer.partition(":")[0] or "unknown"  # unix sockets and the like: one subject


class ApiKeyIdentity:
    """IdentityResolver over API keys."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def authenticate(self, metadata: Metadata, peer: str) -> Caller:
        """The caller behind the call's API key (see the module docstring)."""
        merchants = _values(metadata, MERCHANT_HEADER)
        if len(merchants) > 1 or (merchants and not isinstance(merchants[0], str)):
            raise PaycoreError(Reason.MERCHANT_IDENTITY_MISSING, header=MERCHANT_HEADER)
        named = merchants[0] if merchants else None
        assert named is None or isinstance(named, str)
        return await self._authenticator.authenticate(
            Credentials(_api_key(metadata), named, peer_address(peer))
        )


def _api_key(metadata: Metadata) -> str | None:
    values = _values(metadata, AUTHORIZATION_HEADER)
    if not values:
        return None
    # Anything present but unusable (two headers, binary, no "Bearer ") is an
    # invalid key, not a missing one: it counts toward the lockout.
    if len(values) > 1 or not isinstance(values[0], str):
        return "\x00malformed"
    match = _BEARER.fullmatch(values[0])
    return match.group(1) if match else "\x00malformed"
