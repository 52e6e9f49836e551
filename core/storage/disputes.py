"""Disputes in PostgreSQL (asyncpg): the dispute rows, their sealed evidence, channel notices.

Writes run on the connection of the caller's transaction (``connection_of``),
so a dispute commits with the postings and events its use case computed, or
not at all. Storage decides nothing: the ledger postings and the event types
come from the use case (core/service/disputes.py); ``announce`` only adds
each event's snapshot, the dispute as the API shows it (``snapshot``, given
by the wiring: storage knows no protobuf).

Locking: a channel's notice and a refund lock the payment row first
(payments.lock), then its disputes (``of_payment``, ``find``); the merchant's
answers and the dispute job lock just the dispute (``lock``, ``lock_overdue``).
The ledger's accounts (``ledger.post``) and then the merchant's event sequence
(``announce``) always come last, as in every payment posting, so refunds and
dispute changes of one payment queue instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from core.domain.dispute_rate import CurrencyDisputes, DisputeRate
from core.domain.dispute_status import DisputeStatus
from core.domain.disputes import Dispute, DisputeKind
from core.domain.money import Money
from core.ledger.journal import JournalTransaction
from core.ports.disputes import DisputedPayer, DisputeQuery
from core.ports.repository import PaymentTransaction
from core.storage import ledger
from core.storage.events import EventRow, append_events
from core.storage.payment_reads import card_from_json
from core.storage.session import connection_of
from core.storage.unavailable import unavailable_as_error

_COLUMNS = """
    merchant_id, id, payment_id, channel, channel_reference, amount, fee, currency, kind,
    status, reason, evidence_due_time, evidence_submitted, create_time, update_time
"""


def _from_row(row: asyncpg.Record) -> Dispute:
    currency = row["currency"]
    return Dispute(
        id=row["id"],
        merchant_id=row["merchant_id"],
        payment_id=row["payment_id"],
        channel=row["channel"],
        channel_reference=row["channel_reference"],
        amount=Money(row["amount"], currency),
        fee=Money(row["fee"], currency),
        kind=DisputeKind(row["kind"]),
        status=DisputeStatus(row["status"]),
        reason=row["reason"],
        evidence_due_at=row["evidence_due_time"],
        created_at=row["create_time"],
        updated_at=row["update_time"],
        evidence_submitted=row["evidence_submitted"],
    )


class PostgresDisputes:
    """DisputeStore over an asyncpg pool (core/ports/disputes.py)."""

    def __init__(self, pool: asyncpg.Pool, snapshot: Callable[[Dispute], bytes]) -> None:
        self._pool = pool
        self._snapshot = snapshot

    async def of_payment(
        self, tx: PaymentTransaction, merchant_id: str, payment_id: str
    ) -> list[Dispute]:
        rows = await connection_of(tx).fetch(
            f"""
            SELECT {_COLUMNS} FROM disputes WHERE merchant_id = $1 AND payment_id = $2
            ORDER BY create_time, id FOR UPDATE
            """,
            merchant_id,
            payment_id,
        )
        return [_from_row(row) for row in rows]

    async def find(
        self, tx: PaymentTransaction, merchant_id: str, channel: str, reference: str
    ) -> Dispute | None:
        row = await connection_of(tx).fetchrow(
            f"""
            SELECT {_COLUMNS} FROM disputes
            WHERE merchant_id = $1 AND channel = $2 AND channel_reference = $3 FOR UPDATE
            """,
            merchant_id,
            channel,
            reference,
        )
        return None if row is None else _from_row(row)

    async def lock(
        self, tx: PaymentTransaction, merchant_id: str, dispute_id: str
    ) -> Dispute | None:
        row = await connection_of(tx).fetchrow(
            f"SELECT {_COLUMNS} FROM disputes WHERE merchant_id = $1 AND id = $2 FOR UPDATE",
            merchant_id,
            dispute_id,
        )
        return None if row is None else _from_row(row)

    async def insert(self, tx: PaymentTransaction, dispute: Dispute) -> None:
        await connection_of(tx).execute(
            f"""
            INSERT INTO disputes ({_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            """,
            dispute.merchant_id,
            dispute.id,
            dispute.payment_id,
            dispute.channel,
            dispute.channel_reference,
            dispute.amount.amount,
            dispute.fee.amount,
            dispute.amount.currency,
            dispute.kind.value,
            dispute.status.value,
            dispute.reason,
            dispute.evidence_due_at,
            dispute.evidence_submitted,
            dispute.created_at,
            dispute.updated_at,
        )

    async def save(self, tx: PaymentTransaction, dispute: Dispute) -> None:
        await connection_of(tx).execute(
            """
            UPDATE disputes SET kind = $3, status = $4, fee = $5, evidence_due_time = $6,
                evidence_submitted = $7, update_time = $8
            WHERE merchant_id = $1 AND id = $2
            """,
            dispute.merchant_id,
            dispute.id,
            dispute.kind.value,
            dispute.status.value,
            dispute.fee.amount,
            dispute.evidence_due_at,
            dispute.evidence_submitted,
            dispute.updated_at,
        )

    async def save_evidence(
        self, tx: PaymentTransaction, dispute: Dispute, sealed: str, at: datetime
    ) -> None:
        await connection_of(tx).execute(
            """
            INSERT INTO dispute_evidence (merchant_id, dispute_id, sealed, create_time)
            VALUES ($1, $2, $3, $4)
            """,
            dispute.merchant_id,
            dispute.id,
            sealed,
            at,
        )

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
        # ON CONFLICT DO NOTHING waits for a concurrent insert of the same
        # notice to commit or roll back, so one of two deliveries records it.
        written = await connection_of(tx).fetchval(
            """
            INSERT INTO dispute_notices (channel, event_id, merchant_id, payment_id, dispute_id,
                                         outcome, create_time)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1
            """,
            channel,
            event_id,
            dispute.merchant_id if dispute is not None else "",
            payment_id,
            dispute.id if dispute is not None else "",
            outcome,
            at,
        )
        return written is not None

    async def post(
        self, tx: PaymentTransaction, postings: Sequence[JournalTransaction], at: datetime
    ) -> None:
        connection = connection_of(tx)
        for txn in postings:
            await ledger.post(connection, txn, at)

    async def announce(
        self, tx: PaymentTransaction, dispute: Dispute, types: Sequence[str]
    ) -> None:
        snapshot = self._snapshot(dispute)
        await append_events(
            connection_of(tx),
            dispute.merchant_id,
            dispute.updated_at,
            [EventRow(t, "dispute", dispute.id, "", snapshot) for t in types],
        )

    async def lock_overdue(
        self, tx: PaymentTransaction, now: datetime, batch_size: int
    ) -> list[Dispute]:
        # SKIP LOCKED: workers running the job at once take disjoint batches, and
        # the row locks (held to the commit) are the lease; a crashed worker's
        # transaction rolls back and its disputes are due again.
        rows = await connection_of(tx).fetch(
            f"""
            SELECT {_COLUMNS} FROM disputes
            WHERE status = 'needs_response' AND evidence_due_time <= $1
            ORDER BY evidence_due_time LIMIT $2
            FOR UPDATE SKIP LOCKED
            """,
            now,
            batch_size,
        )
        return [_from_row(row) for row in rows]

    @unavailable_as_error()
    async def mark_evidence_sent(self, dispute: Dispute, at: datetime) -> None:
        await self._pool.execute(
            """
            UPDATE dispute_evidence SET sent_time = $3
            WHERE merchant_id = $1 AND dispute_id = $2 AND sent_time IS NULL
            """,
            dispute.merchant_id,
            dispute.id,
            at,
        )

    @unavailable_as_error()
    async def unsent_evidence(
        self, stored_before: datetime, limit: int
    ) -> list[tuple[Dispute, str]]:
        columns = ", ".join(f"d.{c.strip()}" for c in _COLUMNS.split(","))
        rows = await self._pool.fetch(
            f"""
            SELECT {columns}, v.sealed FROM dispute_evidence v
            JOIN disputes d ON d.merchant_id = v.merchant_id AND d.id = v.dispute_id
            WHERE v.sent_time IS NULL AND v.create_time < $1 AND d.status = 'under_review'
            ORDER BY v.create_time LIMIT $2
            """,
            stored_before,
            limit,
        )
        return [(_from_row(row), row["sealed"]) for row in rows]

    @unavailable_as_error()
    async def payer_of(self, merchant_id: str, payment_id: str) -> DisputedPayer | None:
        row = await self._pool.fetchrow(
            """
            SELECT p.amount, p.currency, p.card, p.customer_id, coalesce(c.email, '') AS email
            FROM payments p
            LEFT JOIN customers c
              ON c.merchant_id = p.merchant_id AND c.id = p.customer_id AND NOT c.deleted
            WHERE p.merchant_id = $1 AND p.id = $2
            """,
            merchant_id,
            payment_id,
        )
        if row is None:
            return None
        card = card_from_json(row["card"])
        return DisputedPayer(
            Money(row["amount"], row["currency"]), card, row["customer_id"], row["email"]
        )

    @unavailable_as_error()
    async def dispute_rate(self, merchant_id: str, start: datetime, end: datetime) -> DisputeRate:
        # Both sides read the merchant's newest-first indexes over the window: a report
        # read (rate limited as a read), not a per-payment one.
        rows = await self._pool.fetch(
            """
            WITH paid AS (
                SELECT currency, count(*) AS payments, sum(amount_captured) AS captured
                FROM payments
                WHERE merchant_id = $1 AND create_time >= $2 AND create_time < $3
                  AND amount_captured > 0
                GROUP BY currency
            ), disputed AS (
                SELECT currency,
                       count(*) FILTER (WHERE kind = 'chargeback') AS disputes,
                       coalesce(sum(amount) FILTER (WHERE kind = 'chargeback'), 0) AS disputed,
                       count(*) FILTER (WHERE kind = 'inquiry') AS inquiries
                FROM disputes
                WHERE merchant_id = $1 AND create_time >= $2 AND create_time < $3
                GROUP BY currency
            )
            SELECT coalesce(p.currency, d.currency) AS currency,
                   coalesce(p.payments, 0) AS payments, coalesce(p.captured, 0) AS captured,
                   coalesce(d.disputes, 0) AS disputes, coalesce(d.disputed, 0) AS disputed,
                   coalesce(d.inquiries, 0) AS inquiries
            FROM paid p FULL JOIN disputed d ON d.currency = p.currency
            ORDER BY 1
            """,
            merchant_id,
            start,
            end,
        )
        return DisputeRate(
            start,
            end,
            tuple(
                CurrencyDisputes(
                    r["currency"],
                    r["payments"],
                    int(r["captured"]),
                    r["disputes"],
                    int(r["disputed"]),
                    r["inquiries"],
                )
                for r in rows
            ),
        )

    @unavailable_as_error()
    async def get(self, merchant_id: str, dispute_id: str) -> Dispute | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM disputes WHERE merchant_id = $1 AND id = $2",
            merchant_id,
            dispute_id,
        )
        return None if row is None else _from_row(row)

    @unavailable_as_error()
    async def list(self, query: DisputeQuery) -> list[Dispute]:
        after_time, after_id = query.after or (None, "")
        rows = await self._pool.fetch(
            f"""
            SELECT {_COLUMNS} FROM disputes
            WHERE merchant_id = $1
              AND ($2 = '' OR payment_id = $2)
              AND (cardinality($3::text[]) = 0 OR status = ANY($3::text[]))
              AND ($4::timestamptz IS NULL OR (create_time, id) < ($4, $5))
            ORDER BY create_time DESC, id DESC LIMIT $6
            """,
            query.merchant_id,
            query.payment_id,
            sorted(s.value for s in query.statuses),
            after_time,
            after_id,
            query.page_size,
        )
        return [_from_row(row) for row in rows]
