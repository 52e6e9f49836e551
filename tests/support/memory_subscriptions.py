"""``SubscriptionRecords`` in memory, for use cases tested without servers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.domain.billing_events import BillingEvent
from core.domain.invoices import Invoice, InvoiceStatus
from core.domain.subscriptions import Price, Subscription, SubscriptionStatus


@dataclass
class MemoryBillingState:
    """Prices, subscriptions, invoices and clocks by (merchant_id, id)."""

    prices: dict[tuple[str, str], Price] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], Subscription] = field(default_factory=dict)
    invoices: dict[tuple[str, str], Invoice] = field(default_factory=dict)
    clocks: dict[str, datetime] = field(default_factory=dict)
    events: list[BillingEvent] = field(default_factory=list)

    def copy(self) -> MemoryBillingState:
        """A copy a transaction may change (values are frozen)."""
        return MemoryBillingState(
            dict(self.prices),
            dict(self.subscriptions),
            dict(self.invoices),
            dict(self.clocks),
            list(self.events),
        )


class MemorySubscriptionRecords:
    """``SubscriptionRecords`` over one transaction's copy of the state."""

    def __init__(self, state: MemoryBillingState) -> None:
        self._s = state

    async def save_price(self, price: Price) -> None:
        """Store a price."""
        self._s.prices[(price.merchant_id, price.id)] = price

    async def find_price(self, merchant_id: str, price_id: str) -> Price | None:
        """A price of the merchant."""
        return self._s.prices.get((merchant_id, price_id))

    async def lock(self, merchant_id: str, subscription_id: str) -> Subscription | None:
        """A subscription (the repository's lock is held already)."""
        return self._s.subscriptions.get((merchant_id, subscription_id))

    async def lock_of_customer(self, merchant_id: str, customer_id: str) -> list[Subscription]:
        """The customer's subscriptions not canceled, oldest first."""
        return sorted(
            (
                s
                for (merchant, _), s in self._s.subscriptions.items()
                if merchant == merchant_id
                and s.customer_id == customer_id
                and s.status is not SubscriptionStatus.CANCELED
            ),
            key=lambda s: s.id,
        )

    async def save(self, subscription: Subscription) -> None:
        """Store a subscription."""
        self._s.subscriptions[(subscription.merchant_id, subscription.id)] = subscription

    async def open_invoice(self, merchant_id: str, subscription_id: str) -> Invoice | None:
        """The subscription's OPEN invoice."""
        for (merchant, _), invoice in self._s.invoices.items():
            mine = merchant == merchant_id and invoice.subscription_id == subscription_id
            if mine and invoice.status is InvoiceStatus.OPEN:
                return invoice
        return None

    async def lock_invoice(self, merchant_id: str, invoice_id: str) -> Invoice | None:
        """One invoice (the repository's lock is held already)."""
        return self._s.invoices.get((merchant_id, invoice_id))

    async def save_invoice(self, invoice: Invoice) -> None:
        """Store an invoice."""
        self._s.invoices[(invoice.merchant_id, invoice.id)] = invoice

    async def announce(self, events: Sequence[BillingEvent], at: datetime) -> None:
        """Keep ``events`` (committed with the transaction)."""
        del at
        self._s.events.extend(events)

    async def clock_now(self, merchant_id: str, wall: datetime) -> datetime:
        """The merchant's test clock, else ``wall``."""
        return self._s.clocks.get(merchant_id, wall)

    async def lock_clock(self, merchant_id: str) -> datetime | None:
        """The merchant's test clock (the repository's lock is held already)."""
        return self._s.clocks.get(merchant_id)

    async def set_clock(self, merchant_id: str, to_time: datetime, wall: datetime) -> None:
        """Move the merchant's test clock."""
        del wall
        self._s.clocks[merchant_id] = to_time
