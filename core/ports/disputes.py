"""DisputeStore: disputes, their evidence and the channel's notices, as the use cases store them.

Writes take the request's transaction (``tx``), so a dispute, its ledger
postings and its events commit together; reads outside a transaction use
the pool. PostgreSQL implements it (core/storage/disputes.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.domain.dispute_rate import DisputeRate
from core.domain.dispute_status import DisputeStatus
from core.domain.disputes import Dispute
from core.domain.money import Money
from core.domain.payment import CardSummary
from core.ledger.journal import JournalTransaction
from core.ports.repository import PaymentTransaction


@dataclass(frozen=True, slots=True)
class DisputeQuery:
    """ListDisputes, validated: newest first, after the cursor ``after`` (time, id)."""

    merchant_id: str
    page_size: int
    payment_id: str = ""
    statuses: frozenset[DisputeStatus] = frozenset()
    after: tuple[datetime, str] | None = None


@dataclass(frozen=True, slots=True)
class DisputedPayer:
    """Who paid the disputed payment, as the risk engine counts a lost dispute against them."""

    amount: Money
    card: CardSummary | None
    customer_id: str
    email: str
    """The stored customer's email ("" without one: a payment keeps no email of its own)."""


class DisputeStore(Protocol):
    """What the dispute use cases need from storage."""

    async def of_payment(
        self, tx: PaymentTransaction, merchant_id: str, payment_id: str
    ) -> list[Dispute]:
        """The payment's disputes, locked until ``tx`` ends (lock the payment first)."""
        ...

    async def find(
        self, tx: PaymentTransaction, merchant_id: str, channel: str, reference: str
    ) -> Dispute | None:
        """The dispute the channel calls ``reference``, locked until ``tx`` ends."""
        ...

    async def lock(
        self, tx: PaymentTransaction, merchant_id: str, dispute_id: str
    ) -> Dispute | None:
        """One dispute, locked until ``tx`` ends."""
        ...

    async def insert(self, tx: PaymentTransaction, dispute: Dispute) -> None:
        """Store a new dispute."""
        ...

    async def save(self, tx: PaymentTransaction, dispute: Dispute) -> None:
        """Store a dispute's new status, kind, fee, due date or evidence flag."""
        ...

    async def save_evidence(
        self, tx: PaymentTransaction, dispute: Dispute, sealed: str, at: datetime
    ) -> None:
        """Store the dispute's sealed evidence (once)."""
        ...

    async def record_notice(
        self,
        tx: PaymentTransaction,
        *,
        channel: str,
        event_id: str,
        dispute: Dispute | None,
        payment_id: str,
        outcome: str,
        at: datetime,
    ) -> bool:
        """Remember a channel's notice; False (nothing written) when it was seen before."""
        ...

    async def post(
        self, tx: PaymentTransaction, postings: Sequence[JournalTransaction], at: datetime
    ) -> None:
        """Write the ledger postings the use case computed."""
        ...

    async def announce(
        self, tx: PaymentTransaction, dispute: Dispute, types: Sequence[str]
    ) -> None:
        """Append the events the use case named, each with ``dispute`` as it now is."""
        ...

    async def lock_overdue(
        self, tx: PaymentTransaction, now: datetime, batch_size: int
    ) -> list[Dispute]:
        """Up to ``batch_size`` disputes still needing a response after their due date, locked
        (SKIP LOCKED: those another transaction holds are left out)."""
        ...

    async def mark_evidence_sent(self, dispute: Dispute, at: datetime) -> None:
        """Remember that the channel took the dispute's evidence."""
        ...

    async def unsent_evidence(
        self, stored_before: datetime, limit: int
    ) -> list[tuple[Dispute, str]]:
        """Disputes under review whose evidence (sealed, stored before ``stored_before``) the
        channel has not taken yet, with it; oldest first."""
        ...

    async def payer_of(self, merchant_id: str, payment_id: str) -> DisputedPayer | None:
        """The card, customer and email of a payment (None: no such payment)."""
        ...

    async def dispute_rate(self, merchant_id: str, start: datetime, end: datetime) -> DisputeRate:
        """Payments captured and disputes opened within [start, end), by currency."""
        ...

    async def get(self, merchant_id: str, dispute_id: str) -> Dispute | None:
        """One dispute (no lock)."""
        ...

    async def list(self, query: DisputeQuery) -> list[Dispute]:
        """A page of disputes, newest first (``page_size`` of them at most)."""
        ...


class RefundGuard(Protocol):
    """What RefundPayment asks before refunding (core/service/disputes.py: DisputedRefunds)."""

    async def check_refundable(
        self, tx: PaymentTransaction, merchant_id: str, payment_id: str
    ) -> None:
        """Raise PAYMENT_DISPUTED when a dispute holds the payment (locked in ``tx``)."""
        ...
