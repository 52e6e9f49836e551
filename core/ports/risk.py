"""What paycore's risk screening and the risk back office need from their stores.

``RidingVelocityStore``: the engine's velocity port (``riskengine.VelocityStore``, which
Redis implements, core/redis/velocity.py) whose read-and-count can also ride in the
request gate's round trip (``CountingRider``): the riding is paycore's, the counting the
engine's. ``RiskStore``: block/allow lists and the review queue (PostgreSQL,
core/storage/risk.py). core/risk/screen.py and core/service/risk_back_office.py depend
on these only, so tests can give them in-memory stores.
"""

from __future__ import annotations

from typing import Protocol

from core.domain.risk_records import ListEntry, QueuedReview, Review
from core.gate import Rider
from core.ports.repository import PaymentTransaction
from riskengine import MerchantLists, Transaction, VelocityRead, VelocityStore

# VelocityRead is the engine's; named here too for the payment use cases that import it from here.
__all__ = ["CountingRider", "RidingVelocityStore", "RiskStore", "VelocityRead"]


class CountingRider(Rider):
    """A payment's velocity read-and-count, riding in the request gate's round trip."""

    __slots__ = ()

    def read(self) -> VelocityRead | None:
        """The counters, when the gate ran the rider (None: score it the usual way)."""
        raise NotImplementedError


class RidingVelocityStore(VelocityStore, Protocol):
    """The engine's velocity store, whose read-and-count can ride in the gate's round trip."""

    def rider(self, transaction: Transaction, member: str) -> CountingRider:
        """The read-and-count of a new payment, to ride in the request gate's round trip."""
        ...


class RiskStore(Protocol):
    """Block/allow list entries and the queue of payments held for review."""

    async def add_entry(self, tx: PaymentTransaction, entry: ListEntry) -> ListEntry:
        """Insert ``entry``; an equal entry already there is returned."""
        ...

    async def remove_entry(
        self, tx: PaymentTransaction, merchant_id: str, entry_id: str
    ) -> ListEntry | None:
        """Delete one entry; the deleted entry, or None if there was none."""
        ...

    async def list_entries(self, merchant_id: str, after_id: str, limit: int) -> list[ListEntry]:
        """Up to ``limit`` entries after ``after_id``."""
        ...

    async def merchant_lists(
        self, merchant_id: str, tx: PaymentTransaction | None = None
    ) -> MerchantLists:
        """Every entry of the merchant, as the sets the risk engine matches against."""
        ...

    async def insert_review(self, tx: PaymentTransaction, review: Review) -> None:
        """Queue a held payment."""
        ...

    async def lock_review(
        self, tx: PaymentTransaction, merchant_id: str, payment_id: str
    ) -> Review | None:
        """A payment's review, locked until the transaction ends."""
        ...

    async def save_review(self, tx: PaymentTransaction, review: Review) -> None:
        """Store a review's decision."""
        ...

    async def pending_reviews(
        self, merchant_id: str, after_payment_id: str, limit: int
    ) -> list[QueuedReview]:
        """Up to ``limit`` pending reviews (oldest payment first) after a payment id."""
        ...
