"""The payment repository in memory: ``MemoryRepository``, a PaymentRepository without a database.

Like httpx's MockTransport, it lets the application (core/service/) run its use cases
in milliseconds, with no server: the request executor, the card vault, anything that
talks to ``core.ports.repository``'s Protocols. What it keeps is plain dictionaries
of the domain's frozen values, open to a test's assertions (``repository.state``).

Transactions run one at a time (a lock stands in for PostgreSQL's row locks) on a
copy of the state, which replaces the state when the block ends normally and is
dropped when it raises: all or nothing, as in PostgreSQL. A request_id is claimed by
the same rules as core/storage/idempotency.py (a record older than the TTL is taken
over). Listing pages (``list_payments``, ``list_refunds``) is left to the PostgreSQL
tests: it raises NotImplementedError.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from core.domain.attempt import Attempt, ChannelResult
from core.domain.commands import PaymentQuery, RefundQuery
from core.domain.customers import Customer, CustomerQuery
from core.domain.merchant_settings import MerchantSettings
from core.domain.payment import Payment, Refund, RoutingRecord
from core.ports.repository import (
    Claim,
    ClaimStatus,
    PaymentChange,
    PaymentRepository,
    RequestKey,
    StoredRequest,
)
from core.vault.envelope import Sealed
from core.vault.records import StoredCard
from tests.support.memory_parties import (
    MemoryApiKeys,
    MemoryAuditTrail,
    MemoryAuthentications,
    MemoryCustomers,
    MemoryMandates,
    MemoryMerchants,
)
from tests.support.memory_state import AttemptRecord, MemoryState, RequestRecord
from tests.support.memory_subscriptions import MemorySubscriptionRecords


class MemoryRequests:
    """``Requests``: request_id records of one transaction."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def claim(
        self, key: RequestKey, fingerprint: bytes, at: datetime, lease_s: float, ttl_s: int
    ) -> Claim:
        """Claim ``key`` (NEW), or report the committed record that has it."""
        existing = self._state.requests.get(key)
        if existing is None or existing.created_at < at - timedelta(seconds=ttl_s):
            lease_until = at + timedelta(seconds=lease_s)
            self._state.requests[key] = RequestRecord(fingerprint, at, lease_until)
            return Claim(ClaimStatus.NEW)
        if existing.fingerprint != fingerprint:
            return Claim(ClaimStatus.MISMATCH)
        if existing.completed:
            return Claim(
                ClaimStatus.COMPLETED,
                reply_ok=existing.reply_ok,
                reply=existing.reply,
                resource_id=existing.resource_id,
            )
        return Claim(
            ClaimStatus.IN_PROGRESS,
            resource_id=existing.resource_id,
            created_at=existing.created_at,
        )

    async def complete(
        self, key: RequestKey, ok: bool, reply: bytes, resource_id: str, at: datetime
    ) -> None:
        """Store the reply of a claimed request."""
        record = self._state.requests[key]
        self._state.requests[key] = dataclasses.replace(
            record, completed=True, reply_ok=ok, reply=reply, resource_id=resource_id
        )

    async def set_resource(self, key: RequestKey, resource_id: str) -> None:
        """Remember the resource an unfinished request works on."""
        record = self._state.requests[key]
        self._state.requests[key] = dataclasses.replace(record, resource_id=resource_id)


class MemoryPayments:
    """``Payments``: payments and their refunds in one transaction."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def lock(self, merchant_id: str, payment_id: str) -> Payment | None:
        """The payment (transactions run one at a time: holding it is the lock)."""
        return self._state.payments.get((merchant_id, payment_id))

    async def save(self, change: PaymentChange) -> None:
        """Store the payment as it now is, its postings and its events, as given.

        A taken id for a new payment, or a journal transaction posted twice, is
        an error, as PostgreSQL's primary keys say.
        """
        payment = change.after
        row = (payment.merchant_id, payment.id)
        if change.before is None and row in self._state.payments:
            raise ValueError(f"payment {payment.id} exists already")
        if change.before is not None and row not in self._state.payments:
            raise LookupError(f"payment {payment.id} was never inserted")
        posted = {txn.id for txn in self._state.postings}
        if any(txn.id in posted for txn in change.postings):
            raise ValueError(f"a posting of payment {payment.id} is posted already")
        self._state.payments[row] = payment
        self._state.postings.extend(change.postings)
        self._state.events.extend(change.events)

    async def record_routing(
        self, merchant_id: str, payment_id: str, routing: RoutingRecord
    ) -> None:
        """Store a payment's routing decision."""
        payment = self._state.payments[(merchant_id, payment_id)]
        self._state.payments[(merchant_id, payment_id)] = dataclasses.replace(
            payment, routing=routing
        )

    async def refund_payment_id(self, merchant_id: str, refund_id: str) -> str | None:
        """The merchant's payment holding refund ``refund_id``; None when unknown."""
        for (owner, payment_id), payment in self._state.payments.items():
            if owner == merchant_id and any(refund.id == refund_id for refund in payment.refunds):
                return payment_id
        return None


class MemoryAttempts:
    """``Attempts``: channel attempts in one transaction."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def record(self, attempt: Attempt, at: datetime) -> None:
        """Record an attempt as started."""
        self._state.attempts[(attempt.merchant_id, attempt.id)] = AttemptRecord(attempt, at)

    async def complete(
        self, merchant_id: str, attempt_id: str, result: ChannelResult, at: datetime
    ) -> None:
        """Record a channel's answer to a started attempt."""
        record = self._state.attempts[(merchant_id, attempt_id)]
        self._state.attempts[(merchant_id, attempt_id)] = dataclasses.replace(
            record, result=result, completed_at=at
        )


class MemoryCardTokens:
    """``CardTokens``: the card vault's rows in one transaction."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def insert(self, stored: StoredCard) -> None:
        """Store a new vault row."""
        self._state.card_tokens[(stored.token.merchant_id, stored.token.id)] = stored

    async def find(self, merchant_id: str, token_id: str) -> StoredCard | None:
        """One vault row of the merchant."""
        return self._state.card_tokens.get((merchant_id, token_id))


class MemoryTransaction:
    """``PaymentTransaction``: a repository per aggregate over one copy of the state."""

    def __init__(self, state: MemoryState) -> None:
        self.requests = MemoryRequests(state)
        self.payments = MemoryPayments(state)
        self.attempts = MemoryAttempts(state)
        self.card_tokens = MemoryCardTokens(state)
        self.merchants = MemoryMerchants(state)
        self.keys = MemoryApiKeys(state)
        self.audit = MemoryAuditTrail(state)
        self.customers = MemoryCustomers(state)
        self.mandates = MemoryMandates(state)
        self.authentications = MemoryAuthentications(state)
        self.subscriptions = MemorySubscriptionRecords(state.billing)


class MemoryRepository:
    """``PaymentRepository`` in memory; see the module docstring."""

    def __init__(self) -> None:
        self.state = MemoryState()
        """What is committed."""
        self.commits = 0
        """How many transactions committed."""
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryTransaction]:
        """A transaction: its writes replace the state on normal exit, vanish on an exception."""
        async with self._lock:
            working = self.state.copy()
            yield MemoryTransaction(working)
            self.state = working
            self.commits += 1

    async def get_payment(self, merchant_id: str, payment_id: str) -> Payment | None:
        """One committed payment of one merchant."""
        return self.state.payments.get((merchant_id, payment_id))

    async def find_request(self, key: RequestKey) -> StoredRequest | None:
        """The committed record of a request_id, if any."""
        record = self.state.requests.get(key)
        if record is None:
            return None
        return StoredRequest(
            record.fingerprint, record.completed, record.reply_ok, record.reply, record.created_at
        )

    async def list_payments(self, query: PaymentQuery) -> list[Payment]:
        """Not kept in memory: listing is tested against PostgreSQL."""
        raise NotImplementedError("list payments against PostgreSQL (tests/e2e)")

    async def list_refunds(self, query: RefundQuery) -> list[Refund]:
        """Not kept in memory: listing is tested against PostgreSQL."""
        raise NotImplementedError("list refunds against PostgreSQL (tests/e2e)")

    async def get_customer(self, merchant_id: str, customer_id: str) -> Customer | None:
        """One committed live customer (``CustomerReads``)."""
        return await MemoryCustomers(self.state).find(merchant_id, customer_id)

    async def list_customers(self, query: CustomerQuery) -> list[Customer]:
        """Committed live customers, newest first, after the cursor (``CustomerReads``)."""
        found = sorted(
            (
                c
                for (merchant_id, _), c in self.state.customers.items()
                if merchant_id == query.merchant_id
                and not c.deleted
                and (not query.before_id or c.id < query.before_id)
                and (not query.email or c.email == query.email)
            ),
            key=lambda c: c.id,
            reverse=True,
        )
        return found[: query.page_size]

    async def get_merchant_settings(self, merchant_id: str) -> MerchantSettings:
        """A merchant's committed settings (the defaults when never changed)."""
        found = self.state.merchant_settings.get(merchant_id)
        return found if found is not None else MerchantSettings(merchant_id)

    async def get_card_token(self, merchant_id: str, token_id: str) -> StoredCard | None:
        """One committed vault row of one merchant."""
        return self.state.card_tokens.get((merchant_id, token_id))

    async def rewrap_card_tokens(
        self, active_key_id: str, batch_size: int, rewrap: Callable[[Sealed], Sealed]
    ) -> int:
        """Re-wrap up to ``batch_size`` rows not under ``active_key_id``; how many."""
        async with self._lock:  # one transaction: nothing awaits between its reads and writes
            rows = self.state.card_tokens
            stale = [row for row, stored in rows.items() if stored.sealed.key_id != active_key_id]
            for row in stale[:batch_size]:
                rows[row] = dataclasses.replace(rows[row], sealed=rewrap(rows[row].sealed))
            self.commits += 1
        return len(stale[:batch_size])


def _typed_as_the_port(repository: MemoryRepository) -> PaymentRepository:
    """Never called: mypy checks here that MemoryRepository is a PaymentRepository."""
    return repository
