"""What the in-memory repository stores: ``MemoryState``, by the keys PostgreSQL's tables use.

Shared by the repositories of tests/support/memory_repository.py (requests,
payments, attempts, card tokens) and tests/support/memory_parties.py (merchants,
keys, audit, customers, mandates, authentications).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.auth.keys import ApiKey, Merchant
from core.domain.attempt import Attempt, ChannelResult
from core.domain.audit import AuditRecord
from core.domain.customers import Customer
from core.domain.mandates import Mandate
from core.domain.merchant_settings import MerchantSettings
from core.domain.notifications import EventDraft
from core.domain.payment import Payment
from core.ledger.journal import JournalTransaction
from core.ports.repository import RequestKey
from core.vault.records import StoredCard
from tests.support.memory_subscriptions import MemoryBillingState


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What the repository holds for one request_id (the idempotency_keys row)."""

    fingerprint: bytes
    created_at: datetime
    lease_until: datetime
    completed: bool = False
    reply_ok: bool = False
    reply: bytes = b""
    resource_id: str = ""


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """A channel attempt as recorded: started (``result`` None) or answered."""

    attempt: Attempt
    started_at: datetime
    result: ChannelResult | None = None
    completed_at: datetime | None = None


@dataclass(slots=True)
class MemoryState:
    """Everything the repository stores, by the keys PostgreSQL's tables use."""

    requests: dict[RequestKey, RequestRecord] = field(default_factory=dict)
    payments: dict[tuple[str, str], Payment] = field(default_factory=dict)
    """By (merchant_id, payment_id)."""
    attempts: dict[tuple[str, str], AttemptRecord] = field(default_factory=dict)
    """By (merchant_id, attempt_id)."""
    card_tokens: dict[tuple[str, str], StoredCard] = field(default_factory=dict)
    """By (merchant_id, token_id)."""
    merchants: dict[str, Merchant] = field(default_factory=dict)
    merchant_settings: dict[str, MerchantSettings] = field(default_factory=dict)
    keys: dict[str, tuple[ApiKey, bytes]] = field(default_factory=dict)
    """By prefix: the key and its secret's hash."""
    audit: list[AuditRecord] = field(default_factory=list)
    customers: dict[tuple[str, str], Customer] = field(default_factory=dict)
    """By (merchant_id, customer_id), deleted ones too (as PostgreSQL keeps them)."""
    mandates: dict[tuple[str, str], Mandate] = field(default_factory=dict)
    mandate_charges: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    """(merchant_id, mandate_id, payment_id, when), in the order they were made."""
    postings: list[JournalTransaction] = field(default_factory=list)
    """The ledger: every journal transaction posted by a payment's change, in order."""
    events: list[EventDraft] = field(default_factory=list)
    """The outbox: every event appended by a payment's change, in order."""
    challenge_cards: dict[tuple[str, str], str] = field(default_factory=dict)
    """The vault token a challenged payment's card waits under, by (merchant_id, payment_id)."""
    billing: MemoryBillingState = field(default_factory=MemoryBillingState)

    def copy(self) -> MemoryState:
        """A copy a transaction may change (the values are frozen, so shallow copies do)."""
        return MemoryState(
            requests=dict(self.requests),
            payments=dict(self.payments),
            attempts=dict(self.attempts),
            card_tokens=dict(self.card_tokens),
            merchants=dict(self.merchants),
            merchant_settings=dict(self.merchant_settings),
            keys=dict(self.keys),
            audit=list(self.audit),
            customers=dict(self.customers),
            mandates=dict(self.mandates),
            mandate_charges=list(self.mandate_charges),
            postings=list(self.postings),
            events=list(self.events),
            challenge_cards=dict(self.challenge_cards),
            billing=self.billing.copy(),
        )
