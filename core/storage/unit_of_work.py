"""The PostgreSQL unit of work (asyncpg): one transaction and its per-aggregate repositories.

``PostgresPaymentRepository.transaction()`` opens a ``PostgresTransaction``;
the application reaches each aggregate through it (``uow.payments``,
``uow.requests``, ``uow.attempts``, ``uow.card_tokens``, ``uow.merchants``,
``uow.keys``, ``uow.audit``, ``uow.customers``, ``uow.mandates``,
``uow.authentications``), each a small
class in its aggregate's module holding this transaction's connection. Reads
outside a transaction, and the group commits of new claims and of channel
answers, are the repository's.

Durability: every write runs in a transaction that commits with the server's
default ``synchronous_commit = on``, so a reply sent after ``transaction()``
exits describes data that survives a crash of this process or of PostgreSQL.

Round trips: writes whose result nobody reads (channel attempts, the
request_id's record) wait in the transaction and ride along with its next
statement, or with one last statement just before COMMIT
(core/storage/session.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from core.domain.billing_events import BillingEvent
from core.domain.commands import PaymentQuery, RefundQuery
from core.domain.merchant_settings import MerchantSettings
from core.domain.payment import Payment, Refund
from core.ports.repository import (
    AnsweredChange,
    NewClaim,
    RequestKey,
    StoredRequest,
)
from core.storage import answer_batch, card_tokens, claim_batch, idempotency, payments
from core.storage.access import PostgresApiKeys
from core.storage.attempts import PostgresAttempts
from core.storage.audit import PostgresAudit
from core.storage.authentications import PostgresAuthentications
from core.storage.card_tokens import PostgresCardTokens
from core.storage.customers import PostgresCustomers
from core.storage.idempotency import PostgresRequests
from core.storage.mandates import PostgresMandates
from core.storage.merchants import PostgresMerchants, merchant_settings
from core.storage.payments import PostgresPayments
from core.storage.session import Session
from core.storage.subscriptions import PostgresSubscriptionRecords
from core.storage.unavailable import unavailable_as_error
from core.vault.envelope import Sealed
from core.vault.records import StoredCard

if TYPE_CHECKING:
    from core.storage.events import PaymentOutbox


class PostgresTransaction:
    """PaymentTransaction on one asyncpg connection inside a transaction.

    With an ``outbox``, every payment saved also appends the events its
    ``PaymentChange`` carries, in this transaction (core/storage/events.py);
    without one (storage tools and tests) events are not stored.
    """

    def __init__(
        self,
        connection: asyncpg.Connection,
        outbox: PaymentOutbox | None = None,
        *,
        defer_writes: bool = False,
        billing_snapshot: Callable[[BillingEvent], bytes] | None = None,
    ) -> None:
        self._session = Session(connection, defer_writes=defer_writes)
        self.requests = PostgresRequests(self._session)
        self.payments = PostgresPayments(self._session, outbox)
        self.attempts = PostgresAttempts(self._session)
        self.card_tokens = PostgresCardTokens(connection)
        self.merchants = PostgresMerchants(connection)
        self.keys = PostgresApiKeys(connection)
        self.audit = PostgresAudit(connection)
        self.customers = PostgresCustomers(connection)
        self.mandates = PostgresMandates(connection)
        self.authentications = PostgresAuthentications(connection)
        self.subscriptions = PostgresSubscriptionRecords(connection, billing_snapshot)

    @property
    def connection(self) -> asyncpg.Connection:
        """This transaction's connection, for other components' tables written in it."""
        return self._session.connection

    async def flush(self) -> None:
        """Run the writes still waiting (in one statement); the transaction's last step."""
        await self._session.flush()


class PostgresPaymentRepository:
    """PaymentRepository over an asyncpg pool."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        outbox: PaymentOutbox | None = None,
        billing_snapshot: Callable[[BillingEvent], bytes] | None = None,
    ) -> None:
        """``billing_snapshot``: subscriptions' and invoices' events' bodies (None: none)."""
        self._pool = pool
        self._outbox = outbox  # None: no events (tools, tests of storage alone)
        self._billing_snapshot = billing_snapshot
        self._card_tokens = card_tokens.CardTokenReads(pool)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        # If the connection breaks mid-transaction, PostgreSQL rolls it back:
        # nothing of the request is committed, so the caller's retry is safe.
        async with (
            unavailable_as_error(),
            self._pool.acquire() as connection,
            connection.transaction(),
        ):
            tx = PostgresTransaction(
                connection,
                self._outbox,
                defer_writes=True,
                billing_snapshot=self._billing_snapshot,
            )
            yield tx
            # Reached only when the body ended normally: its waiting writes
            # go in one statement, then COMMIT. An exception skips both.
            await tx.flush()

    async def commit_new_claims(
        self, claims: Sequence[NewClaim], expired_before: datetime
    ) -> list[int | None] | None:
        """Group commit of new payments' first transactions (core/storage/claim_batch.py).

        Each claim's payment row version if it was claimed, and so committed
        (None: not claimed); None without an outbox
        (storage tools and tests), where batches are not used.
        """
        if self._outbox is None:
            return None
        async with unavailable_as_error():
            return await claim_batch.commit_new_claims(
                self._pool, self._outbox, claims, expired_before
            )

    async def commit_answers(self, changes: Sequence[AnsweredChange]) -> list[bool] | None:
        """Group commit of channel answers in one statement (core/storage/answer_batch.py).

        Whether each was written, and so committed; None without an outbox
        (storage tools and tests), where batches are not used.
        """
        if self._outbox is None:
            return None
        async with unavailable_as_error():
            return await answer_batch.commit_answers(self._pool, self._outbox, changes)

    async def get_payment(self, merchant_id: str, payment_id: str) -> Payment | None:
        async with unavailable_as_error():
            return await payments.get_payment(self._pool, merchant_id, payment_id)

    async def find_request(self, key: RequestKey) -> StoredRequest | None:
        async with unavailable_as_error():
            return await idempotency.find_request(self._pool, key)

    async def list_payments(self, query: PaymentQuery) -> list[Payment]:
        async with unavailable_as_error():
            return await payments.list_payments(self._pool, query)

    async def get_merchant_settings(self, merchant_id: str) -> MerchantSettings:
        async with unavailable_as_error():
            return await merchant_settings(self._pool, merchant_id)

    async def list_refunds(self, query: RefundQuery) -> list[Refund]:
        async with unavailable_as_error():
            return await payments.list_refunds(self._pool, query)

    async def get_card_token(self, merchant_id: str, token_id: str) -> StoredCard | None:
        async with unavailable_as_error():
            return await self._card_tokens.find(merchant_id, token_id)

    async def rewrap_card_tokens(
        self, active_key_id: str, batch_size: int, rewrap: Callable[[Sealed], Sealed]
    ) -> int:
        async with (
            unavailable_as_error(),
            self._pool.acquire() as connection,
            connection.transaction(),
        ):
            return await card_tokens.rewrap_card_tokens(
                connection, active_key_id, batch_size, rewrap
            )
