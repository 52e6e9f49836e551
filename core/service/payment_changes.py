"""What a payment's change moves and announces: its ledger postings and its outbox events.

Every use case that writes a payment builds its ``PaymentChange`` here and
hands it to ``tx.payments.save``, which stores the row, the postings and the
events together in the request's transaction (or group-committed statement).
The decisions are the pure rules' (core/ledger/postings.py, which money moves;
core/events/derive.py, which events the merchant hears of); storage derives
neither, so the application is where a reader sees that a capture moves money
and emits ``payment.succeeded``.
"""

from __future__ import annotations

from core.domain.payment import Payment
from core.events.derive import derive_events
from core.ledger.postings import postings_for
from core.ports.repository import PaymentChange


def payment_change(before: Payment | None, after: Payment) -> PaymentChange:
    """``before`` (as locked; None for a new payment) -> ``after``, with its postings and events.

    Raises ValueError when no lifecycle transition turns ``before`` into
    ``after`` in the ledger (``postings_for``): a bug, never a request's fault.
    """
    return PaymentChange(
        before=before,
        after=after,
        postings=tuple(postings_for(before, after)),
        events=tuple(derive_events(before, after)),
    )
