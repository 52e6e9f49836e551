"""Payments and their refunds (tables ``payments``, ``refunds``): the aggregate's repository.

Inside a request's transaction, ``PostgresPayments`` (``uow.payments``) locks
and saves payments; outside one, ``get_payment``, ``list_payments`` and
``list_refunds`` read on the pool.

A payment is saved as a ``PaymentChange`` the application built
(core/service/payment_changes.py): storage stores its row, posts exactly its
postings to the ledger (core/storage/ledger.py) and, with an outbox, appends
exactly its events (core/storage/events.py); it decides none of them. The
row, its events and the transaction's waiting writes (core/storage/session.py)
are one statement.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from core.domain.commands import PaymentQuery, RefundQuery
from core.domain.payment import Payment, Refund, RoutingRecord
from core.ports.repository import PaymentChange
from core.storage import ledger as ledger_storage
from core.storage.payment_reads import (
    PAYMENT_COLUMNS,
    REFUND_JSON,
    payment_from_row,
    refund_from_json,
)
from core.storage.payment_rows import MUTABLE_COLUMNS, failure_json, routing_json, row_values
from core.storage.session import Session

if TYPE_CHECKING:
    from core.storage.events import PaymentOutbox

_SELECT_PAYMENT = f"SELECT {PAYMENT_COLUMNS} FROM payments p WHERE p.merchant_id = $1 AND p.id = $2"


class PostgresPayments:
    """The payments of one transaction (``uow.payments``)."""

    __slots__ = ("_outbox", "_seen", "_session")

    def __init__(self, session: Session, outbox: PaymentOutbox | None) -> None:
        self._session = session
        self._outbox = outbox
        self._seen: dict[tuple[str, str], Payment] = {}
        """Each payment as this transaction last locked or wrote it."""

    async def lock(self, merchant_id: str, payment_id: str) -> Payment | None:
        """Read a payment and lock its row until the transaction ends."""
        # Two statements on purpose. A statement that waits for a row lock
        # sees the locked row as it is now, but everything else it reads (the
        # refunds) as it was when the statement began: a refund settled by
        # the lock holder would be read back as PENDING and written back so.
        # Locking first and then reading in a new statement (a new snapshot
        # under READ COMMITTED) sees the payment and its refunds as committed.
        # The lock carries the pending writes (it reads payments only), so
        # the read after it sees them: a completed attempt shows as such.
        session = self._session
        sql, args = session.carried(frozenset({"payments"})).build(
            "SELECT 1 FROM payments WHERE merchant_id = $1 AND id = $2 FOR UPDATE",
            merchant_id,
            payment_id,
        )
        locked = await session.connection.fetchval(sql, *args)
        if locked is None:
            return None
        await session.flush()
        row = await session.connection.fetchrow(_SELECT_PAYMENT, merchant_id, payment_id)
        if row is None:
            return None
        payment = payment_from_row(row)
        self._seen[(merchant_id, payment_id)] = payment
        return payment

    async def save(self, change: PaymentChange) -> None:
        """Store ``change``: its row (inserted when new), refunds, postings and events.

        The ledger goes first (it reads and writes only its own tables, and a
        refused posting then leaves nothing written); the row, its events and
        the pending writes are then one statement.
        """
        after = change.after
        if change.before is not None and (after.merchant_id, after.id) not in self._seen:
            # Saved without being locked first in this transaction: lock it now,
            # so the row is locked before the ledger's accounts, as always.
            await self.lock(after.merchant_id, after.id)
        connection = self._session.connection
        await ledger_storage.post_payment_change(connection, change)
        statement = self._session.carried(frozenset({"payments"}))
        sql, args = _insert(after) if change.before is None else _update(after)
        statement.add((("payment_row", sql),), args)
        if self._outbox is not None:
            events = self._outbox.parts(change)
            if events is not None:
                statement.add(events.ctes, events.args)
        text, values = statement.build("SELECT count(*) FROM payment_row")
        written = await connection.fetchval(text, *values)
        if written != 1:
            raise LookupError(f"payment {after.id} vanished while locked")
        await self._save_refunds(after)
        self._seen[(after.merchant_id, after.id)] = after

    async def _save_refunds(self, payment: Payment) -> None:
        if not payment.refunds:
            return
        await self._session.connection.executemany(
            """
            INSERT INTO refunds (merchant_id, id, payment_id, amount, currency, state, reason,
                                 channel_reference, create_time, update_time, rejection_reason,
                                 failure)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (merchant_id, id) DO UPDATE
                SET state = EXCLUDED.state, channel_reference = EXCLUDED.channel_reference,
                    rejection_reason = EXCLUDED.rejection_reason, failure = EXCLUDED.failure,
                    update_time = EXCLUDED.update_time
                -- Only a pending (or held) refund changes; a settled one is final.
                WHERE refunds.state IN ('pending', 'pending_review')
                  AND (refunds.state IS DISTINCT FROM EXCLUDED.state
                       OR refunds.channel_reference IS DISTINCT FROM EXCLUDED.channel_reference)
            """,
            [
                (
                    payment.merchant_id,
                    refund.id,
                    payment.id,
                    refund.amount.amount,
                    refund.amount.currency,
                    refund.state.value,
                    refund.reason,
                    refund.channel_reference,
                    refund.created_at,
                    payment.updated_at,
                    refund.rejection_reason,
                    failure_json(refund.failure),
                )
                for refund in payment.refunds
            ],
        )

    async def record_routing(
        self, merchant_id: str, payment_id: str, routing: RoutingRecord
    ) -> None:
        """Store a payment's routing decision (shown by GetPayment)."""
        written = self._seen.get((merchant_id, payment_id))
        if written is not None and written.routing == routing:
            return  # stored with the payment's row
        await self._session.connection.execute(
            "UPDATE payments SET routing = $3 WHERE merchant_id = $1 AND id = $2",
            merchant_id,
            payment_id,
            routing_json(routing),
        )

    async def refund_payment_id(self, merchant_id: str, refund_id: str) -> str | None:
        """The payment a refund of the merchant belongs to; None for an unknown refund."""
        # A refund never moves to another payment, so this needs no lock; the
        # caller locks the payment next and reads the refund's state there.
        value: str | None = await self._session.connection.fetchval(
            "SELECT payment_id FROM refunds WHERE merchant_id = $1 AND id = $2",
            merchant_id,
            refund_id,
        )
        return value


def _insert(payment: Payment) -> tuple[str, Sequence[Any]]:
    """The statement part storing a new payment's row."""
    return _INSERT_PAYMENT, (
        *row_values(payment),
        payment.currency,
        payment.capture_method.value,
        payment.confirmation_method.value,
        payment.customer_id,
        payment.created_at,
    )


def _update(payment: Payment) -> tuple[str, Sequence[Any]]:
    """The statement part storing every mutable field of an existing payment's row."""
    return _UPDATE_PAYMENT, row_values(payment)


_INSERT_PAYMENT = f"""
    INSERT INTO payments (merchant_id, id, {MUTABLE_COLUMNS},
        currency, capture_method, confirmation_method, customer_id, create_time)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
            $17, $18, $19, $20, $21, $22)
    RETURNING 1
"""

# A routing decision, once stored, stays (a save without one keeps it).
_UPDATE_PAYMENT = f"""
    UPDATE payments SET ({MUTABLE_COLUMNS}) = ($3, $4, $5, $6, $7, $8, $9, $10, $11,
        $12, $13, $14, $15, $16, COALESCE($17, routing))
    WHERE merchant_id = $1 AND id = $2
    RETURNING 1
"""


async def get_payment(pool: asyncpg.Pool, merchant_id: str, payment_id: str) -> Payment | None:
    """One payment of one merchant, with its refunds (no lock)."""
    row = await pool.fetchrow(_SELECT_PAYMENT, merchant_id, payment_id)
    return None if row is None else payment_from_row(row)


class _Page:
    """The WHERE/ORDER/LIMIT of one List page over a table aliased ``alias``.

    Scoped by merchant first, newest first, keyset-paginated on
    (create_time, id); arguments are numbered as conditions are added.
    """

    def __init__(self, alias: str, merchant_id: str) -> None:
        self._alias = alias
        self.args: list[Any] = [merchant_id]
        self._conditions = [f"{alias}.merchant_id = $1"]

    def arg(self, value: Any) -> str:
        """A placeholder for ``value``."""
        self.args.append(value)
        return f"${len(self.args)}"

    def where(self, condition: str) -> None:
        """AND ``condition`` (built with ``arg``)."""
        self._conditions.append(condition)

    def in_states(self, states: Iterable[enum.Enum]) -> None:
        """Only rows whose ``state`` is one of ``states`` (all when empty)."""
        values = sorted(str(state.value) for state in states)
        if values:
            self.where(f"{self._alias}.state = ANY({self.arg(values)}::text[])")

    def clauses(self, after: tuple[datetime, str] | None, page_size: int) -> str:
        """WHERE ... ORDER BY ... LIMIT ..., after the cursor ``after`` when given."""
        a = self._alias
        if after is not None:
            after_time, after_id = after
            self.where(
                f"({a}.create_time, {a}.id) < ({self.arg(after_time)}, {self.arg(after_id)})"
            )
        return (
            f"WHERE {' AND '.join(self._conditions)}"
            f" ORDER BY {a}.create_time DESC, {a}.id DESC LIMIT {self.arg(page_size)}"
        )


async def list_payments(pool: asyncpg.Pool, query: PaymentQuery) -> list[Payment]:
    """Up to ``query.page_size`` payments, newest first, after the cursor."""
    page = _Page("p", query.merchant_id)
    page.in_states(query.states)
    if query.customer_id:
        page.where(f"p.customer_id = {page.arg(query.customer_id)}")
    if query.created_from is not None:
        page.where(f"p.create_time >= {page.arg(query.created_from)}")
    if query.created_before is not None:
        page.where(f"p.create_time < {page.arg(query.created_before)}")
    clauses = page.clauses(query.after, query.page_size)
    rows = await pool.fetch(f"SELECT {PAYMENT_COLUMNS} FROM payments p {clauses}", *page.args)
    return [payment_from_row(row) for row in rows]


async def list_refunds(pool: asyncpg.Pool, query: RefundQuery) -> list[Refund]:
    """Up to ``query.page_size`` refunds, newest first, after the cursor."""
    page = _Page("r", query.merchant_id)
    page.in_states(query.states)
    if query.payment_id:
        page.where(f"r.payment_id = {page.arg(query.payment_id)}")
    clauses = page.clauses(query.after, query.page_size)
    rows = await pool.fetch(
        f"SELECT r.payment_id, r.currency, {REFUND_JSON} AS refund FROM refunds r {clauses}",
        *page.args,
    )
    return [refund_from_json(row["refund"], row["payment_id"], row["currency"]) for row in rows]
