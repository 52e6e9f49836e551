"""Prices, subscriptions, invoices and test clocks in PostgreSQL (asyncpg).

``PostgresSubscriptionRecords`` is the unit of work's repository
(``uow.subscriptions``); ``PostgresSubscriptionReads`` answers reads on the
pool. The billing runner's scan and lease is core/storage/billing_leases.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from core.domain.billing_events import BillingEvent
from core.domain.billing_periods import Interval
from core.domain.invoices import Invoice, InvoiceStatus
from core.domain.subscription_commands import (
    InvoiceQuery,
    PriceQuery,
    SubscriptionQuery,
    WhenDunningEnds,
)
from core.domain.subscriptions import Price, Subscription, SubscriptionStatus
from core.storage.events import EventRow, append_events
from core.storage.unavailable import unavailable_as_error

_PRICE_COLUMNS = """
    p.merchant_id AS p_merchant_id, p.id AS p_id, p.product_name, p.amount, p.currency,
    p.interval, p.interval_count, p.trial_days, p.create_time AS p_create_time
"""

_PRICE = f"SELECT {_PRICE_COLUMNS} FROM prices p WHERE p.merchant_id = $1 AND p.id = $2"

_SUBSCRIPTIONS = f"""
    SELECT s.*, {_PRICE_COLUMNS}
    FROM subscriptions s JOIN prices p ON p.merchant_id = s.merchant_id AND p.id = s.price_id
"""

_SUBSCRIPTION = f"{_SUBSCRIPTIONS} WHERE s.merchant_id = $1 AND s.id = $2"

_INVOICE_COLUMNS = """
    merchant_id, id, subscription_id, period_start, period_end, amount, currency, status,
    attempts, next_attempt_at, first_failed_at, payment_id, failure_code, create_time, update_time
"""


def _price(row: asyncpg.Record) -> Price:
    return Price(
        id=row["p_id"],
        merchant_id=row["p_merchant_id"],
        product_name=row["product_name"],
        amount=row["amount"],
        currency=row["currency"],
        interval=Interval(row["interval"]),
        interval_count=row["interval_count"],
        trial_days=row["trial_days"],
        created_at=row["p_create_time"],
    )


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(
        id=row["id"],
        merchant_id=row["merchant_id"],
        customer_id=row["customer_id"],
        price=_price(row),
        quantity=row["quantity"],
        payment_method=row["payment_method"] or "",
        mandate_id=row["mandate_id"] or "",
        status=SubscriptionStatus(row["status"]),
        anchor=row["anchor"],
        periods_billed=row["periods_billed"],
        current_period_start=row["current_period_start"],
        current_period_end=row["current_period_end"],
        next_billing_at=row["next_billing_at"],
        when_dunning_ends=WhenDunningEnds(row["when_dunning_ends"]),
        cancel_at_period_end=row["cancel_at_period_end"],
        pending_proration=row["pending_proration"],
        canceled_at=row["canceled_at"],
        created_at=row["create_time"],
        updated_at=row["update_time"],
    )


def _invoice(row: asyncpg.Record) -> Invoice:
    return Invoice(
        id=row["id"],
        merchant_id=row["merchant_id"],
        subscription_id=row["subscription_id"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        amount=row["amount"],
        currency=row["currency"],
        status=InvoiceStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        first_failed_at=row["first_failed_at"],
        payment_id=row["payment_id"],
        failure_code=row["failure_code"],
        created_at=row["create_time"],
        updated_at=row["update_time"],
    )


class PostgresSubscriptionRecords:
    """``SubscriptionRecords`` on one transaction's connection."""

    def __init__(
        self,
        connection: asyncpg.Connection,
        snapshot: Callable[[BillingEvent], bytes] | None = None,
    ) -> None:
        """``snapshot``: an event's subscription or invoice as the API shows it (None: no
        events, for tools and tests of storage alone)."""
        self._c = connection
        self._snapshot = snapshot

    async def announce(self, events: Sequence[BillingEvent], at: datetime) -> None:
        """Append ``events`` to the outbox in this transaction (core/storage/events.py)."""
        snapshot = self._snapshot
        if snapshot is None or not events:
            return
        rows = [EventRow(e.type, e.resource_type, e.resource_id, "", snapshot(e)) for e in events]
        await append_events(self._c, events[0].subscription.merchant_id, at, rows)

    async def save_price(self, price: Price) -> None:
        """Store a new price."""
        await self._c.execute(
            """
            INSERT INTO prices (merchant_id, id, product_name, amount, currency, interval,
                interval_count, trial_days, create_time)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            price.merchant_id,
            price.id,
            price.product_name,
            price.amount,
            price.currency,
            price.interval.value,
            price.interval_count,
            price.trial_days,
            price.created_at,
        )

    async def find_price(self, merchant_id: str, price_id: str) -> Price | None:
        """A price of the merchant."""
        row = await self._c.fetchrow(
            _PRICE,
            merchant_id,
            price_id,
        )
        return None if row is None else _price(row)

    async def lock(self, merchant_id: str, subscription_id: str) -> Subscription | None:
        """A subscription with its price, its row locked until the transaction ends."""
        row = await self._c.fetchrow(
            f"{_SUBSCRIPTION} FOR NO KEY UPDATE OF s", merchant_id, subscription_id
        )
        return None if row is None else _subscription(row)

    async def lock_of_customer(self, merchant_id: str, customer_id: str) -> list[Subscription]:
        """The customer's subscriptions not canceled, oldest first, their rows locked."""
        rows = await self._c.fetch(
            f"""{_SUBSCRIPTIONS} WHERE s.merchant_id = $1 AND s.customer_id = $2
                AND s.status <> $3 ORDER BY s.id FOR NO KEY UPDATE OF s""",
            merchant_id,
            customer_id,
            SubscriptionStatus.CANCELED.value,
        )
        return [_subscription(row) for row in rows]

    async def save(self, subscription: Subscription) -> None:
        """Insert a new subscription or replace every mutable field of an existing one."""
        s = subscription
        await self._c.execute(
            """
            INSERT INTO subscriptions (merchant_id, id, customer_id, price_id, quantity,
                payment_method, status, anchor, periods_billed, current_period_start,
                current_period_end, next_billing_at, when_dunning_ends, cancel_at_period_end,
                pending_proration, canceled_at, create_time, update_time, mandate_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                $17, $18, $19)
            ON CONFLICT (merchant_id, id) DO UPDATE SET price_id = EXCLUDED.price_id,
                quantity = EXCLUDED.quantity, payment_method = EXCLUDED.payment_method,
                status = EXCLUDED.status, anchor = EXCLUDED.anchor,
                periods_billed = EXCLUDED.periods_billed,
                current_period_start = EXCLUDED.current_period_start,
                current_period_end = EXCLUDED.current_period_end,
                next_billing_at = EXCLUDED.next_billing_at,
                cancel_at_period_end = EXCLUDED.cancel_at_period_end,
                pending_proration = EXCLUDED.pending_proration,
                canceled_at = EXCLUDED.canceled_at, update_time = EXCLUDED.update_time,
                mandate_id = EXCLUDED.mandate_id
            """,
            s.merchant_id,
            s.id,
            s.customer_id,
            s.price.id,
            s.quantity,
            s.payment_method or None,
            s.status.value,
            s.anchor,
            s.periods_billed,
            s.current_period_start,
            s.current_period_end,
            s.next_billing_at,
            s.when_dunning_ends.value,
            s.cancel_at_period_end,
            s.pending_proration,
            s.canceled_at,
            s.created_at,
            s.updated_at,
            s.mandate_id or None,
        )

    async def open_invoice(self, merchant_id: str, subscription_id: str) -> Invoice | None:
        """The subscription's OPEN invoice, locked (at most one is open at a time)."""
        row = await self._c.fetchrow(
            f"""
            SELECT {_INVOICE_COLUMNS} FROM invoices
            WHERE merchant_id = $1 AND subscription_id = $2 AND status = 'open'
            FOR NO KEY UPDATE
            """,
            merchant_id,
            subscription_id,
        )
        return None if row is None else _invoice(row)

    async def lock_invoice(self, merchant_id: str, invoice_id: str) -> Invoice | None:
        """One invoice, locked until the transaction ends."""
        row = await self._c.fetchrow(
            f"""
            SELECT {_INVOICE_COLUMNS} FROM invoices WHERE merchant_id = $1 AND id = $2
            FOR NO KEY UPDATE
            """,
            merchant_id,
            invoice_id,
        )
        return None if row is None else _invoice(row)

    async def save_invoice(self, invoice: Invoice) -> None:
        """Insert a new invoice or replace every mutable field of an existing one."""
        i = invoice
        await self._c.execute(
            f"""
            INSERT INTO invoices ({_INVOICE_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            ON CONFLICT (merchant_id, id) DO UPDATE SET status = EXCLUDED.status,
                attempts = EXCLUDED.attempts, next_attempt_at = EXCLUDED.next_attempt_at,
                first_failed_at = EXCLUDED.first_failed_at, payment_id = EXCLUDED.payment_id,
                failure_code = EXCLUDED.failure_code, update_time = EXCLUDED.update_time
            """,
            i.merchant_id,
            i.id,
            i.subscription_id,
            i.period_start,
            i.period_end,
            i.amount,
            i.currency,
            i.status.value,
            i.attempts,
            i.next_attempt_at,
            i.first_failed_at,
            i.payment_id,
            i.failure_code,
            i.created_at,
            i.updated_at,
        )

    async def clock_now(self, merchant_id: str, wall: datetime) -> datetime:
        """The merchant's test clock's time, else ``wall``."""
        now: datetime | None = await self._c.fetchval(
            "SELECT now FROM test_clocks WHERE merchant_id = $1", merchant_id
        )
        return wall if now is None else now

    async def lock_clock(self, merchant_id: str) -> datetime | None:
        """The merchant's test clock's time, locked (None: it has none)."""
        now: datetime | None = await self._c.fetchval(
            "SELECT now FROM test_clocks WHERE merchant_id = $1 FOR UPDATE", merchant_id
        )
        return now

    async def set_clock(self, merchant_id: str, to_time: datetime, wall: datetime) -> None:
        """Move (or create) the merchant's test clock."""
        await self._c.execute(
            """
            INSERT INTO test_clocks (merchant_id, now, update_time) VALUES ($1, $2, $3)
            ON CONFLICT (merchant_id) DO UPDATE SET now = EXCLUDED.now,
                update_time = EXCLUDED.update_time
            """,
            merchant_id,
            to_time,
            wall,
        )


class PostgresSubscriptionReads:
    """``SubscriptionReads`` on the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def get_price(self, merchant_id: str, price_id: str) -> Price | None:
        """One price by primary key."""
        row = await self._pool.fetchrow(
            _PRICE,
            merchant_id,
            price_id,
        )
        return None if row is None else _price(row)

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def list_prices(self, query: PriceQuery) -> list[Price]:
        """Up to ``query.page_size`` prices, newest first (ids are time-ordered)."""
        rows = await self._pool.fetch(
            f"""
            SELECT {_PRICE_COLUMNS} FROM prices p
            WHERE p.merchant_id = $1 AND ($2 = '' OR p.id < $2)
            ORDER BY p.id DESC LIMIT $3
            """,
            query.merchant_id,
            query.before_id,
            query.page_size,
        )
        return [_price(row) for row in rows]

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def get_subscription(self, merchant_id: str, subscription_id: str) -> Subscription | None:
        """One subscription by primary key (the membership read)."""
        row = await self._pool.fetchrow(_SUBSCRIPTION, merchant_id, subscription_id)
        return None if row is None else _subscription(row)

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def list_subscriptions(self, query: SubscriptionQuery) -> list[Subscription]:
        """Up to ``query.page_size`` subscriptions, newest first (ids are time-ordered)."""
        rows = await self._pool.fetch(
            f"""
            {_SUBSCRIPTIONS}
            WHERE s.merchant_id = $1 AND ($2 = '' OR s.id < $2)
              AND ($3 = '' OR s.customer_id = $3)
            ORDER BY s.id DESC LIMIT $4
            """,
            query.merchant_id,
            query.before_id,
            query.customer_id,
            query.page_size,
        )
        return [_subscription(row) for row in rows]

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def list_invoices(self, query: InvoiceQuery) -> list[Invoice]:
        """Up to ``query.page_size`` of the subscription's invoices, newest first."""
        rows = await self._pool.fetch(
            f"""
            SELECT {_INVOICE_COLUMNS} FROM invoices
            WHERE merchant_id = $1 AND subscription_id = $2 AND ($3 = '' OR id < $3)
            ORDER BY id DESC LIMIT $4
            """,
            query.merchant_id,
            query.subscription_id,
            query.before_id,
            query.page_size,
        )
        return [_invoice(row) for row in rows]
