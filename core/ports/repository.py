"""The storage interface the payment service talks to.

One implementation, ``core.storage.unit_of_work``, backs it with asyncpg (a
module per aggregate); the service never imports asyncpg. Writes happen
inside ``transaction()``, through its repository per aggregate
(``uow.payments``, ``uow.requests``...), so that a state change, its channel
attempt record and its idempotency reply commit together or not at all.

A payment is written as a ``PaymentChange``: the application computes the
ledger postings and the outbox events of the change (core/service/payment_changes.py)
and storage stores exactly those, with the row, atomically; it derives nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.auth.keys import ApiKey, Merchant
from core.domain.attempt import Attempt, ChannelResult
from core.domain.audit import AuditRecord
from core.domain.commands import PaymentQuery, RefundQuery
from core.domain.merchant_settings import MerchantSettings
from core.domain.notifications import EventDraft
from core.domain.payment import Payment, Refund, RoutingRecord
from core.ledger.journal import JournalTransaction
from core.ports.authentications import Authentications
from core.ports.customers import Customers
from core.ports.mandates import Mandates
from core.ports.subscriptions import SubscriptionRecords
from core.vault.envelope import Sealed
from core.vault.records import StoredCard


@dataclass(frozen=True, slots=True)
class RequestKey:
    """Identifies one idempotent request: per merchant, per RPC, per request_id."""

    merchant_id: str
    operation: str
    request_id: str


class ClaimStatus(enum.Enum):
    """What claiming a request_id found."""

    NEW = "new"
    """Nobody used it (or the old use expired): this request executes."""
    COMPLETED = "completed"
    """A finished request with the same fingerprint: replay its reply."""
    IN_PROGRESS = "in_progress"
    """The same request is executing (or its executor died mid-way)."""
    MISMATCH = "mismatch"
    """The request_id was used for a different request."""


@dataclass(frozen=True, slots=True)
class Claim:
    """The result of claiming a request_id."""

    status: ClaimStatus
    reply_ok: bool = False
    reply: bytes = b""
    resource_id: str = ""
    created_at: datetime | None = None
    """When the request_id was claimed (IN_PROGRESS only)."""


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """What PostgreSQL holds for a request_id (read without claiming it)."""

    fingerprint: bytes
    completed: bool
    reply_ok: bool
    reply: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PaymentChange:
    """A payment going from ``before`` to ``after``, with what it moves and announces.

    Built by the application (``payment_change``, core/service/payment_changes.py)
    and stored as one: the row ``after``, the journal transactions ``postings``
    in the ledger, the ``events`` in the outbox, in the writing transaction or
    statement. Storage derives none of them.
    """

    before: Payment | None
    """The payment as the transaction locked it; None for a new payment."""
    after: Payment
    postings: tuple[JournalTransaction, ...]
    """The money the change moves (core/ledger/postings.py), in posting order."""
    events: tuple[EventDraft, ...]
    """What the change announces to the merchant (core/events/derive.py), in order."""


@dataclass(frozen=True, slots=True)
class NewClaim:
    """The first transaction of a new payment's request, decided before its claim.

    Committed with others in one statement (core/storage/claim_batch.py):
    the request_id's record (in progress, or completed with ``reply``), the
    payment, its attempt and its events, all or nothing, and only if the
    request_id could be claimed.
    """

    key: RequestKey
    fingerprint: bytes
    at: datetime
    lease_until: datetime
    change: PaymentChange
    """The new payment (``before`` None) and its events; it posts nothing."""
    attempt: Attempt | None
    reply: tuple[bool, bytes] | None
    """(ok, body) when the request is answered already (no channel call); None: in progress."""

    @property
    def payment(self) -> Payment:
        """The new payment."""
        return self.change.after


@dataclass(frozen=True, slots=True)
class WrittenPayment:
    """A payment as a group-committed first transaction wrote it, and that row's version.

    ``version``: the row's ``xmin`` (the writing transaction's id). Any later
    change of the row by another transaction gives it another ``xmin`` (a row
    lock does not), so "the row's xmin is still ``version``" means "the row is
    still exactly ``payment``" (core/storage/answer_batch.py relies on it).
    """

    payment: Payment
    version: int


@dataclass(frozen=True, slots=True)
class AnsweredChange:
    """A channel's answer applied to the payment as its first transaction wrote it.

    Committed with others in one statement (core/storage/answer_batch.py),
    only if the attempt is still ``started`` and the payment's row still
    ``version``: the attempt's outcome, the payment ``change.after``, the
    request's stored reply, and the change's postings and events.
    """

    key: RequestKey
    attempt_id: str
    result: ChannelResult
    version: int
    """``change.before``'s row version (``WrittenPayment.version``)."""
    change: PaymentChange
    """The answer applied to the payment as written, with its postings and events."""
    ok: bool
    reply: bytes
    at: datetime
    """When the answer is recorded (the attempt's completion, the request's)."""


class Requests(Protocol):
    """Request_id records inside one transaction (``uow.requests``)."""

    async def claim(
        self, key: RequestKey, fingerprint: bytes, at: datetime, lease_s: float, ttl_s: int
    ) -> Claim:
        """Claim ``key`` for this request, or report who has it."""
        ...

    async def complete(
        self, key: RequestKey, ok: bool, reply: bytes, resource_id: str, at: datetime
    ) -> None:
        """Store the reply of a claimed request (committed with the transaction)."""
        ...

    async def set_resource(self, key: RequestKey, resource_id: str) -> None:
        """Remember which resource an unfinished request is working on."""
        ...


class Payments(Protocol):
    """Payments and their refunds inside one transaction (``uow.payments``)."""

    async def lock(self, merchant_id: str, payment_id: str) -> Payment | None:
        """Read a payment and lock its row until the transaction ends."""
        ...

    async def save(self, change: PaymentChange) -> None:
        """Store ``change`` in this transaction, and nothing it does not say.

        The payment ``after`` with its refunds (a new row when ``before`` is None),
        its ``postings`` in the ledger and its ``events`` in the outbox.
        ``before`` is the payment as this transaction locked it (``lock``).
        Raises what the ledger refuses (INSUFFICIENT_FUNDS...), before writing the row.
        """
        ...

    async def record_routing(
        self, merchant_id: str, payment_id: str, routing: RoutingRecord
    ) -> None:
        """Store a payment's routing decision (shown by GetPayment)."""
        ...

    async def refund_payment_id(self, merchant_id: str, refund_id: str) -> str | None:
        """The payment a refund of the merchant belongs to; None for an unknown refund."""
        ...


class Attempts(Protocol):
    """Channel attempts inside one transaction (``uow.attempts``)."""

    async def record(self, attempt: Attempt, at: datetime) -> None:
        """Write a channel attempt as started (before the channel is called)."""
        ...

    async def complete(
        self, merchant_id: str, attempt_id: str, result: ChannelResult, at: datetime
    ) -> None:
        """Record a channel's answer to an attempt."""
        ...


class CardTokens(Protocol):
    """The card vault's rows inside one transaction (``uow.card_tokens``)."""

    async def insert(self, stored: StoredCard) -> None:
        """Store a new vault row (the card vault's tokenize)."""
        ...

    async def find(self, merchant_id: str, token_id: str) -> StoredCard | None:
        """One vault row of one merchant, read in this transaction (a payment by token)."""
        ...


class Merchants(Protocol):
    """Merchants and their settings inside one transaction (``uow.merchants``)."""

    async def insert(self, merchant: Merchant) -> bool:
        """Store a new merchant; False when its id is taken."""
        ...

    async def settings(self, merchant_id: str) -> MerchantSettings:
        """A merchant's settings as committed (the defaults when never changed); no lock."""
        ...

    async def lock_settings(self, merchant_id: str) -> MerchantSettings:
        """A merchant's settings, locked until the transaction ends (for an update)."""
        ...

    async def save_settings(self, settings: MerchantSettings) -> None:
        """Store a merchant's settings (after ``lock_settings``)."""
        ...


class ApiKeys(Protocol):
    """API keys inside one transaction (``uow.keys``)."""

    async def insert(self, key: ApiKey, secret_hash: bytes) -> None:
        """Store a new API key (its hash only)."""
        ...

    async def lock(self, prefix: str) -> ApiKey | None:
        """Read an API key and lock it until the transaction ends."""
        ...

    async def save(self, key: ApiKey) -> None:
        """Store an API key's expiry, revocation and successor."""
        ...


class AuditTrail(Protocol):
    """The audit trail inside one transaction (``uow.audit``)."""

    async def record(self, record: AuditRecord) -> None:
        """Append an admin action to the audit trail (commits with the change it describes)."""
        ...


class PaymentTransaction(Protocol):
    """One database transaction (the unit of work): a repository per aggregate.

    Everything written through them commits together or not at all.
    """

    @property
    def requests(self) -> Requests:
        """Request_id records (claim, complete)."""
        ...

    @property
    def payments(self) -> Payments:
        """Payments and refunds (lock, save)."""
        ...

    @property
    def attempts(self) -> Attempts:
        """Channel attempts (record, complete)."""
        ...

    @property
    def card_tokens(self) -> CardTokens:
        """The card vault's rows."""
        ...

    @property
    def merchants(self) -> Merchants:
        """Merchants and merchant settings."""
        ...

    @property
    def keys(self) -> ApiKeys:
        """API keys."""
        ...

    @property
    def audit(self) -> AuditTrail:
        """The audit trail."""
        ...

    @property
    def customers(self) -> Customers:
        """The merchant's customers."""
        ...

    @property
    def mandates(self) -> Mandates:
        """The merchant's mandates, and the charges made under them."""
        ...

    @property
    def authentications(self) -> Authentications:
        """Payments' 3-D Secure authentications and their open challenges."""
        ...

    @property
    def subscriptions(self) -> SubscriptionRecords:
        """Prices, subscriptions, invoices and test clocks."""
        ...


class PaymentRepository(Protocol):
    """Durable payments, scoped by merchant."""

    def transaction(self) -> AbstractAsyncContextManager[PaymentTransaction]:
        """A transaction: commits on normal exit, rolls back on an exception."""
        ...

    async def get_payment(self, merchant_id: str, payment_id: str) -> Payment | None:
        """One payment of one merchant, with its refunds."""
        ...

    async def find_request(self, key: RequestKey) -> StoredRequest | None:
        """The committed record of a request_id, if any (no lock, no claim)."""
        ...

    async def list_payments(self, query: PaymentQuery) -> list[Payment]:
        """Up to ``query.page_size`` payments, newest first, after the cursor."""
        ...

    async def list_refunds(self, query: RefundQuery) -> list[Refund]:
        """Up to ``query.page_size`` refunds, newest first, after the cursor."""
        ...

    async def get_merchant_settings(self, merchant_id: str) -> MerchantSettings:
        """A merchant's settings (the defaults when never changed)."""
        ...

    async def get_card_token(self, merchant_id: str, token_id: str) -> StoredCard | None:
        """One vault row of one merchant, outside any transaction (GetCardToken).

        Inside a transaction use ``PaymentTransaction.card_tokens.find``: a second
        connection taken while the transaction holds one can deadlock the pool.
        """
        ...

    async def rewrap_card_tokens(
        self, active_key_id: str, batch_size: int, rewrap: Callable[[Sealed], Sealed]
    ) -> int:
        """Re-wrap up to ``batch_size`` rows not under ``active_key_id``, in one transaction.

        ``rewrap`` returns the row's sealed card under the active key; the
        number of rows changed is returned (0 when none are left).
        """
        ...
