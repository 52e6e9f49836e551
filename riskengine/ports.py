"""The port the engine's velocity store implements: counters in, one transaction counted.

Velocity features (``riskengine.features.Velocity``) are counts of a card's, a
device's, a customer's... recent transactions and declines. The engine says what
it needs counted and read; a store keeps the counters (Redis implements it,
core/redis/velocity.py; tests have an in-memory one, tests/support/memory_risk.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from riskengine.features import Transaction, Velocity


@dataclass(frozen=True, slots=True)
class VelocityRead:
    """What one read-and-count returned: the counters, and the merchant's list version."""

    velocity: Velocity
    list_version: int | None
    """The version of the merchant's block/allow lists (a cache of them is reloaded when it
    moves); None when the store could not be asked."""


class VelocityStore(Protocol):
    """Velocity counters of cards, devices and customers, and the merchant's list version."""

    async def read_and_count(
        self, transaction: Transaction, member: str, *, write: bool, now_ms: int | None = None
    ) -> VelocityRead:
        """Counters before ``transaction``, adding it (``write``) in the same round trip."""
        ...

    async def record_decline(
        self, transaction: Transaction, member: str, *, now_ms: int | None = None
    ) -> None:
        """Count a declined transaction against its card and device (card testing)."""
        ...

    async def record_lost_dispute(
        self, transaction: Transaction, dispute_id: str, *, now_ms: int | None = None
    ) -> None:
        """Count a chargeback lost on ``transaction`` against its card, customer and email
        (``dispute_id`` counts once however often it is recorded)."""
        ...

    async def bump_list_version(self, merchant_id: str) -> None:
        """Tell every process that the merchant's lists changed (best effort)."""
        ...
