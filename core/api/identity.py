"""Who is calling: the one place that turns call metadata into a merchant identity.

Until API keys exist (security issue), the merchant is named by the
``x-paycore-merchant-id`` metadata entry. Key-based identity replaces
``MetadataMerchantResolver`` with a resolver that looks the key up; nothing
else changes, because handlers only ever see a ``Caller``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from core.domain.errors import PaycoreError, Reason

MERCHANT_HEADER = "x-paycore-merchant-id"
_MERCHANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

Metadata = Sequence[tuple[str, str | bytes]]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of one RPC."""

    merchant_id: str


class IdentityResolver(Protocol):
    """Turns call metadata into a Caller, or raises UNAUTHENTICATED."""

    def resolve(self, metadata: Metadata) -> Caller:
        """The caller, from the call's metadata."""
        ...


class MetadataMerchantResolver:
    """Trusts the merchant id in metadata (internal callers, before API keys)."""

    def resolve(self, metadata: Metadata) -> Caller:
        """The merchant named by ``x-paycore-merchant-id``."""
        values = [value for key, value in metadata if key == MERCHANT_HEADER]
        if (
            len(values) != 1
            or not isinstance(values[0], str)
            or not _MERCHANT_ID.fullmatch(values[0])
        ):
            raise PaycoreError(Reason.MERCHANT_IDENTITY_MISSING, header=MERCHANT_HEADER)
        return Caller(merchant_id=values[0])
