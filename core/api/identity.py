"""Who is calling: the one place that turns call metadata into a ``Caller``.

Handlers only ever see a ``Caller`` (merchant and role); how it was
established is this module's business. ``MetadataMerchantResolver`` trusts
the ``x-paycore-merchant-id`` (and ``x-paycore-role``) metadata; API key
authentication replaces it without changing anything downstream.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from core.auth.policy import Role
from core.domain.errors import PaycoreError, Reason

MERCHANT_HEADER = "x-paycore-merchant-id"
ROLE_HEADER = "x-paycore-role"
_MERCHANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

Metadata = Sequence[tuple[str, str | bytes]]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one RPC."""

    merchant_id: str
    role: Role = Role.MERCHANT
    key_id: str | None = None
    """The API key that authenticated the call (None before API keys)."""


class IdentityResolver(Protocol):
    """Turns call metadata into a Caller, or raises UNAUTHENTICATED."""

    async def authenticate(self, metadata: Metadata, peer: str) -> Caller:
        """The caller, from the call's metadata; ``peer`` is grpc's ``context.peer()``."""
        ...


def single_value(metadata: Metadata, key: str) -> str | None:
    """The one str value of ``key`` in ``metadata``; None when absent, repeated or binary."""
    values = [value for name, value in metadata if name == key]
    if len(values) != 1 or not isinstance(values[0], str):
        return None
    return values[0]


class MetadataMerchantResolver:
    """Trusts the merchant id (and role) in metadata (internal callers, before API keys)."""

    async def authenticate(self, metadata: Metadata, peer: str) -> Caller:
        """The merchant named by ``x-paycore-merchant-id``, with the role of ``x-paycore-role``."""
        merchant_id = single_value(metadata, MERCHANT_HEADER)
        if merchant_id is None or not _MERCHANT_ID.fullmatch(merchant_id):
            raise PaycoreError(Reason.MERCHANT_IDENTITY_MISSING, header=MERCHANT_HEADER)
        role_label = single_value(metadata, ROLE_HEADER)
        try:
            role = Role.parse(role_label) if role_label else Role.MERCHANT
        except ValueError:
            raise PaycoreError(Reason.MERCHANT_IDENTITY_MISSING, header=ROLE_HEADER) from None
        return Caller(merchant_id=merchant_id, role=role)
