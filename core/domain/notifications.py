"""Event drafts, stored events, webhook endpoints, deliveries, attempts: frozen values (pure)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from core.domain.payment import Payment


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event to append: its type, what it is about, and the payment after the change.

    Which drafts a payment change makes is decided by core/events/derive.py; the
    outbox stores them as ``StoredEvent``s, numbered, with the payment serialized.
    """

    type: str
    payment: Payment
    refund_id: str = ""
    """The refund a ``refund.*`` event is about ("" for ``payment.*``)."""

    @property
    def resource_type(self) -> str:
        """``payment`` or ``refund``."""
        return "refund" if self.refund_id else "payment"

    @property
    def resource_id(self) -> str:
        """The id of the payment or refund the event is about."""
        return self.refund_id or self.payment.id


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One committed event: immutable, numbered per merchant (``sequence`` is the cursor)."""

    id: str
    merchant_id: str
    sequence: int
    type: str
    resource_type: str
    resource_id: str
    refund_id: str
    snapshot: bytes
    """The payment as the API shows it, a serialized ``paycore.v1.Payment``."""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """Where a merchant wants events POSTed, and with which secret(s) they are signed."""

    id: str
    merchant_id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    """Types delivered to this endpoint; empty means every type."""
    enabled: bool
    secret: str
    previous_secret: str
    previous_until: datetime | None
    """While now < previous_until, ``previous_secret`` signs too (rotation overlap)."""
    created_at: datetime
    updated_at: datetime

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The secrets that sign a delivery made at ``now``: the current one first."""
        if self.previous_secret and self.previous_until is not None and now < self.previous_until:
            return (self.secret, self.previous_secret)
        return (self.secret,)


class DeliveryState(enum.Enum):
    """Lifecycle of one (event, endpoint) delivery."""

    PENDING = "pending"
    """Due now or at ``next_attempt_at``."""
    SUCCEEDED = "succeeded"
    """The endpoint answered 2xx."""
    DEAD = "dead"
    """Every scheduled attempt failed; RedeliverEvent makes it pending again."""


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One HTTP POST of a delivery."""

    attempt: int
    at: datetime
    status_code: int
    """0 when no HTTP answer came (connection refused, timeout)."""
    latency_ms: int
    error: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event's delivery to one endpoint, with its attempts (newest last)."""

    id: int
    merchant_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    event_sequence: int
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int
    last_error: str
    created_at: datetime
    updated_at: datetime
    history: tuple[DeliveryAttempt, ...] = ()


@dataclass(frozen=True, slots=True)
class LeasedDelivery:
    """A delivery a relay worker holds until ``lease_until`` (or until it reports back)."""

    id: int
    lease_token: str
    attempt: int
    """The number of the attempt about to be made (1 for the first)."""
    round_attempt: int
    """The attempt's index in the retry schedule's round (1 for the first)."""
    endpoint: WebhookEndpoint
    event: StoredEvent
