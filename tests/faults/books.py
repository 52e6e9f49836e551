"""The books after a fault: one check every scenario ends with (``check_books``).

What a payment service promises, checked against what PostgreSQL committed:

1. every payment a client saw acknowledged exists, once, in the acknowledged state
   or a state the lifecycle can reach from it;
2. every request_id got the same answer each time it was answered (replays included);
3. the ledger balances (tests/ledger/invariants.py: zero per currency and transaction,
   balances equal their entries, captured and refunded posted);
4. no payment has more refunded, or reserved by refunds under way, than captured;
5. no payment or refund waits (PENDING, an operation in flight) without a channel
   attempt that the status-query scheduler will ask about, or one marked
   needs_attention for a person;
6. no answer was UNKNOWN or INTERNAL.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

import asyncpg

from paycore.v1 import payment_pb2 as pb
from tests.ledger.invariants import assert_ledger_consistent

from .load import Journal

S = pb.Payment

_NEXT: dict[str, set[str]] = {
    # The lifecycle of docs/PAYMENTS.md ("Lifecycle"): what may follow each state.
    "requires_confirmation": {"pending", "requires_review", "canceled"},
    "requires_review": {"pending", "declined", "canceled"},
    "pending": {"authorized", "captured", "declined", "failed"},
    "authorized": {"captured", "canceled"},
    "captured": {"partially_refunded", "refunded"},
    "partially_refunded": {"refunded"},
}


def successors(state: str) -> set[str]:
    """Every state reachable from ``state`` (itself included)."""
    reached, frontier = {state}, [state]
    while frontier:
        for following in _NEXT.get(frontier.pop(), set()) - reached:
            reached.add(following)
            frontier.append(following)
    return reached


def state_name(state: int) -> str:
    """``STATE_PARTIALLY_REFUNDED`` -> ``partially_refunded`` (the stored name)."""
    return S.State.Name(state).removeprefix("STATE_").lower()  # type: ignore[arg-type]


@dataclass(frozen=True)
class Books:
    """What the check saw (the scenario's result line in docs/RELIABILITY.md)."""

    payments: int
    acknowledged: int
    requests: int
    answers: int
    replayed: int
    unanswered: int
    pending: int
    codes: dict[str, int]

    def line(self) -> str:
        """One line for the test log and docs/RELIABILITY.md."""
        codes = ", ".join(f"{name} {count}" for name, count in sorted(self.codes.items()))
        return (
            f"{self.payments} payments ({self.acknowledged} acknowledged), {self.requests}"
            f" request ids, {self.answers} answers [{codes}], {self.replayed} replayed,"
            f" {self.unanswered} unanswered, {self.pending} left pending"
        )


async def check_books(
    db: asyncpg.Pool,
    merchant_id: str,
    journal: Journal,
    *,
    settle_within_s: float = 5.0,
    forgotten: frozenset[str] = frozenset(),
) -> Books:
    """Assert every promise above for ``merchant_id``; returns the counts.

    Waits up to ``settle_within_s`` for status queries to resolve what the fault
    left unresolved; what is still unresolved then must have its query scheduled.
    ``forgotten``: payments whose CreatePayment request_id expired (idempotency_ttl_s)
    and was used again, so that its record now names the new payment: exactly these,
    and no other payment, have no CreatePayment record.
    """
    pending = await _settled(db, merchant_id, settle_within_s)
    for request_id in journal.requests:
        bodies = {(a.code, a.body) for a in journal.answered(request_id)}
        assert len(bodies) <= 1, f"{request_id} got different answers: {bodies}"
    unexpected = {code: n for code, n in journal.codes.items() if code in ("UNKNOWN", "INTERNAL")}
    assert not unexpected, f"answers that blame nobody: {unexpected}"

    rows = {
        r["id"]: r
        for r in await db.fetch(
            "SELECT id, state, amount_captured, amount_refunded FROM payments"
            " WHERE merchant_id = $1",
            merchant_id,
        )
    }
    for payment_id, seen in journal.acknowledged.items():
        assert payment_id in rows, f"acknowledged payment {payment_id} is not in PostgreSQL"
        acknowledged, stored = state_name(seen.state), rows[payment_id]["state"]
        assert stored in successors(acknowledged), (
            f"{payment_id} was acknowledged {acknowledged}, is {stored}"
        )
    creators = Counter(
        r["resource_id"]
        for r in await db.fetch(
            "SELECT resource_id FROM idempotency_keys"
            " WHERE merchant_id = $1 AND operation = 'CreatePayment' AND resource_id <> ''",
            merchant_id,
        )
    )
    twice = {p: n for p, n in creators.items() if n != 1}
    orphans = set(rows) - set(creators)
    assert not twice, f"payments claimed by several CreatePayment requests: {twice}"
    assert orphans == forgotten, f"payments no CreatePayment request made: {orphans - forgotten}"

    await assert_ledger_consistent(db, merchant_id)
    over = await db.fetch(
        """
        SELECT p.id, p.amount_captured, sum(r.amount) AS refunds FROM payments p
        JOIN refunds r ON r.merchant_id = p.merchant_id AND r.payment_id = p.id
        WHERE p.merchant_id = $1 AND r.state NOT IN ('failed', 'rejected')
        GROUP BY p.id, p.amount_captured HAVING sum(r.amount) > p.amount_captured
        """,
        merchant_id,
    )
    assert not over, f"refunds above the captured amount: {over}"
    stranded = await _stranded(db, merchant_id)
    assert not stranded, f"waiting without a scheduled resolution: {stranded}"
    return Books(
        payments=len(rows),
        acknowledged=len(journal.acknowledged),
        requests=len(journal.requests),
        answers=sum(journal.codes.values()),
        replayed=journal.replayed,
        unanswered=len(journal.unanswered),
        pending=pending,
        codes=dict(journal.codes),
    )


async def _settled(db: asyncpg.Pool, merchant_id: str, within_s: float) -> int:
    """Wait for no payment to be PENDING or have an operation in flight; how many still do."""
    deadline = time.monotonic() + within_s
    while True:
        waiting: int = await db.fetchval(
            "SELECT count(*) FROM payments WHERE merchant_id = $1"
            " AND (state = 'pending' OR operation_in_flight <> '')",
            merchant_id,
        )
        if not waiting or time.monotonic() > deadline:
            return waiting
        await asyncio.sleep(0.2)


async def _stranded(db: asyncpg.Pool, merchant_id: str) -> list[asyncpg.Record]:
    """Payments and refunds waiting on a channel with no attempt the scheduler will ask about.

    An unresolved attempt (started, unknown, pending) is in the scheduler's query
    (core/storage/status_queries.py) until its schedule runs out, when it is marked
    needs_attention: either way someone resolves it.
    """
    return list(
        await db.fetch(
            """
            SELECT 'payment' AS kind, p.id, p.state, p.operation_in_flight FROM payments p
            WHERE p.merchant_id = $1 AND (p.state = 'pending' OR p.operation_in_flight <> '')
              AND NOT EXISTS (
                SELECT 1 FROM channel_attempts a
                WHERE a.merchant_id = p.merchant_id AND a.payment_id = p.id
                  AND (a.outcome IN ('started', 'unknown', 'pending') OR a.needs_attention))
            UNION ALL
            SELECT 'refund', r.id, r.state, '' FROM refunds r
            WHERE r.merchant_id = $1 AND r.state = 'pending'
              AND NOT EXISTS (
                SELECT 1 FROM channel_attempts a
                WHERE a.merchant_id = r.merchant_id AND a.refund_id = r.id
                  AND (a.outcome IN ('started', 'unknown', 'pending') OR a.needs_attention))
            """,
            merchant_id,
        )
    )
