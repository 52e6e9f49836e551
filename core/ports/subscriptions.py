"""What subscriptions and billing (core/service/subscriptions.py, core/service/billing.py) need.

``SubscriptionRecords`` is the unit of work's repository (``uow.subscriptions``):
prices, subscriptions, invoices and test clocks, written in the request's or
the billing run's transaction. ``BillingLeases`` is the runner's scan and lease,
outside any transaction.
PostgreSQL implements the storage ports (core/storage/subscriptions.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.domain.billing_events import BillingEvent
from core.domain.invoices import Invoice
from core.domain.subscription_commands import InvoiceQuery, PriceQuery, SubscriptionQuery
from core.domain.subscriptions import Price, Subscription


class SubscriptionRecords(Protocol):
    """Prices, subscriptions, invoices and test clocks inside one transaction."""

    async def save_price(self, price: Price) -> None:
        """Store a new price."""
        ...

    async def find_price(self, merchant_id: str, price_id: str) -> Price | None:
        """A price of the merchant."""
        ...

    async def lock(self, merchant_id: str, subscription_id: str) -> Subscription | None:
        """A subscription (with its price), locked until the transaction ends."""
        ...

    async def lock_of_customer(self, merchant_id: str, customer_id: str) -> list[Subscription]:
        """The customer's subscriptions not canceled, oldest first, locked until the end."""
        ...

    async def save(self, subscription: Subscription) -> None:
        """Store a new subscription or every mutable field of an existing one."""
        ...

    async def open_invoice(self, merchant_id: str, subscription_id: str) -> Invoice | None:
        """The subscription's OPEN invoice, locked; None when none is open."""
        ...

    async def lock_invoice(self, merchant_id: str, invoice_id: str) -> Invoice | None:
        """One invoice, locked until the transaction ends."""
        ...

    async def save_invoice(self, invoice: Invoice) -> None:
        """Store a new invoice or every mutable field of an existing one."""
        ...

    async def announce(self, events: Sequence[BillingEvent], at: datetime) -> None:
        """Append ``events`` to the merchant's outbox (they commit with the change)."""
        ...

    async def clock_now(self, merchant_id: str, wall: datetime) -> datetime:
        """The merchant's billing now: its test clock's time, else ``wall``."""
        ...

    async def lock_clock(self, merchant_id: str) -> datetime | None:
        """The merchant's test clock's time, locked until the transaction ends (None: none)."""
        ...

    async def set_clock(self, merchant_id: str, to_time: datetime, wall: datetime) -> None:
        """Move (or create) the merchant's test clock to ``to_time``."""
        ...


class SubscriptionReads(Protocol):
    """Committed prices, subscriptions and invoices, read outside any transaction."""

    async def get_price(self, merchant_id: str, price_id: str) -> Price | None:
        """One price of the merchant (by primary key)."""
        ...

    async def list_prices(self, query: PriceQuery) -> list[Price]:
        """Up to ``query.page_size`` prices, newest first, after the cursor."""
        ...

    async def get_subscription(self, merchant_id: str, subscription_id: str) -> Subscription | None:
        """One subscription of the merchant (by primary key)."""
        ...

    async def list_subscriptions(self, query: SubscriptionQuery) -> list[Subscription]:
        """Up to ``query.page_size`` subscriptions, newest first, after the cursor."""
        ...

    async def list_invoices(self, query: InvoiceQuery) -> list[Invoice]:
        """Up to ``query.page_size`` of a subscription's invoices, newest first."""
        ...


@dataclass(frozen=True, slots=True)
class DueSubscription:
    """A subscription billing has to act on, leased to one runner."""

    merchant_id: str
    subscription_id: str


class BillingLeases(Protocol):
    """Which subscriptions are due, and who bills each."""

    async def lease_due(
        self, owner: str, wall: datetime, lease_s: float, limit: int
    ) -> Sequence[DueSubscription]:
        """Up to ``limit`` due subscriptions (by each merchant's clock), leased to ``owner``.

        A subscription leased to another runner and not yet expired is not returned.
        """
        ...

    async def release(self, owner: str, due: DueSubscription) -> None:
        """Give a lease back (the runner is done with the subscription for now)."""
        ...
