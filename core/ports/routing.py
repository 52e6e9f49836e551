"""What merchant routing needs from its store: merchants' own routing chains.

PostgreSQL implements it (core/storage/routing.py); core/service/merchant_routing.py
depends on it only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from core.domain.merchant_routing import MerchantRouting
from core.ports.repository import PaymentTransaction


class RoutingStore(Protocol):
    """Merchants' own routing chains (PostgreSQL: core/storage/routing.py)."""

    async def custom_chains(self) -> dict[str, Mapping[str, Any]]:
        """Every merchant's own chain (merchants using the file's are left out)."""
        ...

    async def get(self, merchant_id: str) -> MerchantRouting:
        """The merchant's routing (no chain of its own when never set)."""
        ...

    async def lock(self, tx: PaymentTransaction, merchant_id: str) -> MerchantRouting:
        """The merchant's routing, its row locked until ``tx`` ends (created if missing)."""
        ...

    async def save(self, tx: PaymentTransaction, routing: MerchantRouting) -> None:
        """Store ``routing`` (its row is locked by ``lock``)."""
        ...
