"""In-memory risk stores: velocity counters and the lists and review queue, as dicts.

``MemoryVelocity`` implements ``core.ports.risk.RidingVelocityStore`` (the engine's
``riskengine.VelocityStore`` with a gate rider) and ``MemoryRiskStore``
``core.ports.risk.RiskStore`` (mypy checks both, see the end); with them, risk screening
(core/risk/screen.py) and the payment use cases run without Redis or PostgreSQL.
Velocity counts payments per card fingerprint only, which is what screening's rules read
for card payments in the tests that use it.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from core.domain.risk_records import ListEntry, ListName, QueuedReview, Review
from core.ports.repository import PaymentTransaction
from core.ports.risk import CountingRider
from riskengine import MerchantLists, Transaction, Velocity, VelocityRead

if TYPE_CHECKING:
    from core.ports.risk import RidingVelocityStore, RiskStore


class MemoryRider(CountingRider):
    """A rider the in-memory gate never runs: screening then reads the store itself."""

    __slots__ = ()

    def read(self) -> VelocityRead | None:
        """None: the gate did not run it."""
        return None


class MemoryVelocity:
    """Payments counted per merchant and card (the transaction's ``card`` entity)."""

    def __init__(self) -> None:
        self.counted: Counter[tuple[str, str]] = Counter()
        self.declines: Counter[tuple[str, str]] = Counter()
        self.lost_disputes: set[tuple[str, str, str]] = set()
        self.list_versions: Counter[str] = Counter()

    def rider(self, transaction: Transaction, member: str) -> CountingRider:
        """A rider that reads nothing (the in-memory gate runs no scripts)."""
        return MemoryRider(lua="", keys=[], args=[])

    async def read_and_count(
        self, transaction: Transaction, member: str, *, write: bool, now_ms: int | None = None
    ) -> VelocityRead:
        """The card's count before this payment; adds it when ``write``."""
        key = (transaction.merchant_id, transaction.entity_values().get("card", ""))
        before = self.counted[key]
        if write:
            self.counted[key] += 1
        velocity = Velocity(counters={"card_count_1h": before, "card_count_24h": before})
        return VelocityRead(velocity, self.list_versions[transaction.merchant_id])

    async def record_decline(
        self, transaction: Transaction, member: str, *, now_ms: int | None = None
    ) -> None:
        """Count a decline against the card."""
        self.declines[(transaction.merchant_id, transaction.entity_values().get("card", ""))] += 1

    async def record_lost_dispute(
        self, transaction: Transaction, dispute_id: str, *, now_ms: int | None = None
    ) -> None:
        """Remember a lost dispute (by id) against the card."""
        card = transaction.entity_values().get("card", "")
        self.lost_disputes.add((transaction.merchant_id, card, dispute_id))

    async def bump_list_version(self, merchant_id: str) -> None:
        """The merchant's lists changed."""
        self.list_versions[merchant_id] += 1


class MemoryRiskStore:
    """List entries and reviews in dicts; transactions are ignored (nothing to roll back)."""

    def __init__(self) -> None:
        self.entries: dict[str, ListEntry] = {}
        self.reviews: dict[tuple[str, str], Review] = {}

    async def add_entry(self, tx: PaymentTransaction, entry: ListEntry) -> ListEntry:
        """Insert ``entry``; an equal entry already there is returned."""
        for existing in self.entries.values():
            same = (existing.merchant_id, existing.list, existing.kind, existing.value)
            if same == (entry.merchant_id, entry.list, entry.kind, entry.value):
                return existing
        self.entries[entry.id] = entry
        return entry

    async def remove_entry(
        self, tx: PaymentTransaction, merchant_id: str, entry_id: str
    ) -> ListEntry | None:
        """Delete one entry; the deleted entry, or None if there was none."""
        entry = self.entries.get(entry_id)
        if entry is None or entry.merchant_id != merchant_id:
            return None
        return self.entries.pop(entry_id)

    async def list_entries(self, merchant_id: str, after_id: str, limit: int) -> list[ListEntry]:
        """Up to ``limit`` entries after ``after_id``, in id order."""
        mine = sorted(e.id for e in self.entries.values() if e.merchant_id == merchant_id)
        return [self.entries[i] for i in mine if i > after_id][:limit]

    async def merchant_lists(
        self, merchant_id: str, tx: PaymentTransaction | None = None
    ) -> MerchantLists:
        """The merchant's entries as the sets the risk engine matches against."""
        sets: dict[ListName, dict[str, set[str]]] = {name: {} for name in ListName}
        for entry in self.entries.values():
            if entry.merchant_id == merchant_id:
                sets[entry.list].setdefault(entry.kind, set()).add(entry.value)
        return MerchantLists(
            blocked={kind: frozenset(v) for kind, v in sets[ListName.BLOCK].items()},
            allowed={kind: frozenset(v) for kind, v in sets[ListName.ALLOW].items()},
        )

    async def insert_review(self, tx: PaymentTransaction, review: Review) -> None:
        """Queue a held payment."""
        self.reviews[(review.merchant_id, review.payment_id)] = review

    async def lock_review(
        self, tx: PaymentTransaction, merchant_id: str, payment_id: str
    ) -> Review | None:
        """A payment's review."""
        return self.reviews.get((merchant_id, payment_id))

    async def save_review(self, tx: PaymentTransaction, review: Review) -> None:
        """Store a review's decision."""
        self.reviews[(review.merchant_id, review.payment_id)] = review

    async def pending_reviews(
        self, merchant_id: str, after_payment_id: str, limit: int
    ) -> list[QueuedReview]:
        """Not in memory: the queue lists each review with its payment (PostgreSQL joins them)."""
        raise NotImplementedError("the review queue is listed by PostgreSQL only")


def _typed_as_the_ports(velocity: MemoryVelocity, store: MemoryRiskStore) -> None:
    """Fails mypy when an in-memory store drifts from its port."""
    checked_velocity: RidingVelocityStore = velocity
    checked_store: RiskStore = store
    del checked_velocity, checked_store
