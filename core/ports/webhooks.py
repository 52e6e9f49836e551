"""What the webhook and event use cases need from their stores (core/service/webhooks.py).

Endpoints and their deliveries, and the events themselves: PostgreSQL implements them
(core/storage/webhook_endpoints.py, webhook_deliveries.py, events.py). Writes take the
request's transaction, so they commit with its idempotency record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.domain.notifications import Delivery, DeliveryState, StoredEvent, WebhookEndpoint
from core.ports.repository import PaymentTransaction


@dataclass(frozen=True, slots=True)
class DeliveryQuery:
    """Filters and page of ListWebhookDeliveries."""

    merchant_id: str
    endpoint_id: str = ""
    event_id: str = ""
    states: tuple[DeliveryState, ...] = ()
    before_id: int | None = None
    """Keyset cursor: deliveries with a smaller id (newest first)."""
    page_size: int = 50


class WebhookEndpoints(Protocol):
    """A merchant's webhook endpoints."""

    async def count_endpoints(self, tx: PaymentTransaction, merchant_id: str) -> int:
        """How many live endpoints the merchant has (a guard, not an exact quota)."""
        ...

    async def lock_endpoint(
        self, tx: PaymentTransaction, merchant_id: str, endpoint_id: str
    ) -> WebhookEndpoint | None:
        """A live endpoint, locked until the transaction ends."""
        ...

    async def save_endpoint(self, tx: PaymentTransaction, endpoint: WebhookEndpoint) -> None:
        """Store a new endpoint, or every mutable field of an existing one."""
        ...

    async def delete_endpoint(
        self, tx: PaymentTransaction, merchant_id: str, endpoint_id: str, at: datetime
    ) -> None:
        """Mark an endpoint deleted and end its pending deliveries."""
        ...

    async def get_endpoint(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """One live endpoint of the merchant."""
        ...

    async def list_endpoints(self, merchant_id: str) -> list[WebhookEndpoint]:
        """The merchant's live endpoints, oldest first."""
        ...


class WebhookDeliveries(Protocol):
    """The deliveries of events to endpoints."""

    async def list_deliveries(self, query: DeliveryQuery) -> list[Delivery]:
        """A page of deliveries, newest first."""
        ...

    async def redeliver(
        self, tx: PaymentTransaction, merchant_id: str, event_sequence: int, endpoint_id: str
    ) -> list[Delivery]:
        """Make the event's finished or dead deliveries pending again, due now."""
        ...


class EventStore(Protocol):
    """A merchant's events, in sequence."""

    async def events_after(
        self, merchant_id: str, after_sequence: int, types: Sequence[str], limit: int
    ) -> list[StoredEvent]:
        """Up to ``limit`` events after ``after_sequence``, of ``types`` (all if empty)."""
        ...

    async def get_event(
        self, merchant_id: str, event_id: str, tx: PaymentTransaction | None = None
    ) -> StoredEvent | None:
        """One event of the merchant by id (inside a transaction: pass it)."""
        ...
