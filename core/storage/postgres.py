"""The PostgreSQL implementation of the payment repository (asyncpg).

Durability: every write runs in a transaction that commits with the server's
default ``synchronous_commit = on``, so a reply sent after ``transaction()``
exits describes data that survives a crash of this process or of PostgreSQL.

Round trips: each statement costs one, and on the request path they are most
of paycore's work, so writes are folded together (``Statement``). A payment
row, its events and its fan-out are one statement. Writes whose result nobody
reads (channel attempts, the request_id's record) wait in the transaction
(``PostgresTransaction._pending``) and ride along, as CTEs, with its next
statement, or with one last statement just before COMMIT. Data-modifying CTEs
all run, exactly once, whatever the statement carrying them reads; they see
the statement's snapshot, so a write is only carried by a statement that does
not read its table, and two writes of one table never share a statement.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

from core.auth.keys import ApiKey, Merchant
from core.domain.attempt import Attempt, ChannelResult
from core.domain.audit import AuditRecord
from core.domain.commands import PaymentQuery, RefundQuery
from core.domain.merchant_settings import MerchantSettings
from core.domain.money import Money
from core.domain.payment import (
    Payment,
    Refund,
    RoutingRecord,
)
from core.storage import access, answer_batch, card_tokens, claim_batch
from core.storage import ledger as ledger_storage
from core.storage.audit import insert_audit
from core.storage.payment_reads import (
    PAYMENT_COLUMNS,
    REFUND_JSON,
    payment_from_row,
    refund_from_json,
)
from core.storage.payment_rows import MUTABLE_COLUMNS, failure_json, routing_json, row_values
from core.storage.repository import (
    AnsweredChange,
    Claim,
    ClaimStatus,
    NewClaim,
    RequestKey,
    StoredRequest,
)
from core.storage.statement import Statement
from core.storage.unavailable import unavailable_as_error
from core.vault.envelope import Sealed
from core.vault.records import StoredCard

if TYPE_CHECKING:
    from core.storage.events import PaymentOutbox

# A request_id's record, read after a conflicting claim and by repeats.
_SELECT_REQUEST = """
    SELECT fingerprint, state, reply_ok, reply, resource_id, create_time FROM idempotency_keys
    WHERE merchant_id = $1 AND operation = $2 AND request_id = $3
"""


@dataclass(frozen=True, slots=True)
class _Write:
    """A write whose result nobody reads: named CTEs over ``args`` (numbered ``$1``..)."""

    table: str
    ctes: tuple[tuple[str, str], ...]
    args: tuple[Any, ...]


class PostgresTransaction:
    """PaymentTransaction on one asyncpg connection inside a transaction.

    With an ``outbox``, every payment written also appends its events in this
    transaction (core/storage/events.py): the payment as locked here is the
    "before", the payment written the "after".
    """

    def __init__(
        self,
        connection: asyncpg.Connection,
        outbox: PaymentOutbox | None = None,
        *,
        defer_writes: bool = False,
    ) -> None:
        self._c = connection
        self._outbox = outbox
        self._seen: dict[tuple[str, str], Payment] = {}
        """Each payment as this transaction last read or wrote it: the hooks' "before"."""
        self._defer = defer_writes
        self._pending: list[_Write] = []
        """Writes waiting for this transaction's next statement (see the module docstring).

        Only attempts and request records wait: no component reading through
        ``connection`` reads those tables or references them, so it cannot tell.
        """

    @property
    def connection(self) -> asyncpg.Connection:
        """This transaction's connection, for other components' tables written in it."""
        return self._c

    def _carried(self, reads: frozenset[str]) -> Statement:
        """A statement carrying the pending writes (taken off the queue); none on ``reads``."""
        statement = Statement()
        kept = []
        for write in self._pending:
            if write.table in reads:
                kept.append(write)
            else:
                statement.add(write.ctes, write.args)
        self._pending = kept
        return statement

    async def _write(self, table: str, sql: str, *args: Any) -> None:
        """Run a write whose result nobody reads now, or keep it for the next statement."""
        if not self._defer:
            await self._c.execute(sql, *args)
            return
        if any(write.table == table for write in self._pending):
            await self.flush()  # one statement never writes a table twice
        name = f"pending_{table}"
        self._pending.append(_Write(table, ((name, sql),), args))

    async def flush(self) -> None:
        """Run the pending writes now (in one statement); the transaction's last step."""
        if self._pending:
            sql, args = self._carried(frozenset()).build("SELECT 1")
            await self._c.execute(sql, *args)

    async def claim_request(
        self, key: RequestKey, fingerprint: bytes, at: datetime, lease_s: float, ttl_s: int
    ) -> Claim:
        # INSERT first: the unique key makes a concurrent claim of the same
        # request_id wait for this transaction, then see our row. A row older
        # than the TTL is forgotten and taken over in the same statement.
        await self.flush()
        row = await self._c.fetchrow(
            """
            INSERT INTO idempotency_keys AS k
                (merchant_id, operation, request_id, fingerprint, state, create_time, lease_until)
            VALUES ($1, $2, $3, $4, 'in_progress', $5, $6)
            ON CONFLICT (merchant_id, operation, request_id) DO UPDATE
                SET fingerprint = EXCLUDED.fingerprint, state = 'in_progress', reply_ok = NULL,
                    reply = NULL, resource_id = '', create_time = EXCLUDED.create_time,
                    lease_until = EXCLUDED.lease_until, complete_time = NULL
                WHERE k.create_time < $7
            RETURNING 1
            """,
            key.merchant_id,
            key.operation,
            key.request_id,
            fingerprint,
            at,
            at + timedelta(seconds=lease_s),
            at - timedelta(seconds=ttl_s),
        )
        if row is not None:
            return Claim(ClaimStatus.NEW)
        existing = await self._c.fetchrow(
            _SELECT_REQUEST, key.merchant_id, key.operation, key.request_id
        )
        assert existing is not None  # the conflicting row is committed and not expired
        if bytes(existing["fingerprint"]) != fingerprint:
            return Claim(ClaimStatus.MISMATCH)
        if existing["state"] == "completed":
            return Claim(
                ClaimStatus.COMPLETED,
                reply_ok=existing["reply_ok"],
                reply=bytes(existing["reply"]),
                resource_id=existing["resource_id"],
            )
        return Claim(
            ClaimStatus.IN_PROGRESS,
            resource_id=existing["resource_id"],
            created_at=existing["create_time"],
        )

    async def complete_request(
        self, key: RequestKey, ok: bool, reply: bytes, resource_id: str, at: datetime
    ) -> None:
        await self._write(
            "idempotency_keys",
            """
            UPDATE idempotency_keys
            SET state = 'completed', reply_ok = $4, reply = $5, resource_id = $6, complete_time = $7
            WHERE merchant_id = $1 AND operation = $2 AND request_id = $3
            """,
            key.merchant_id,
            key.operation,
            key.request_id,
            ok,
            reply,
            resource_id,
            at,
        )

    async def set_request_resource(self, key: RequestKey, resource_id: str) -> None:
        await self._write(
            "idempotency_keys",
            """
            UPDATE idempotency_keys SET resource_id = $4
            WHERE merchant_id = $1 AND operation = $2 AND request_id = $3
            """,
            key.merchant_id,
            key.operation,
            key.request_id,
            resource_id,
        )

    async def lock_payment(self, merchant_id: str, payment_id: str) -> Payment | None:
        # Two statements on purpose. A statement that waits for a row lock
        # sees the locked row as it is now, but everything else it reads (the
        # refunds) as it was when the statement began: a refund settled by
        # the lock holder would be read back as PENDING and written back so.
        # Locking first and then reading in a new statement (a new snapshot
        # under READ COMMITTED) sees the payment and its refunds as committed.
        # The lock carries the pending writes (it reads payments only), so
        # the read after it sees them: a completed attempt shows as such.
        sql, args = self._carried(frozenset({"payments"})).build(
            "SELECT 1 FROM payments WHERE merchant_id = $1 AND id = $2 FOR UPDATE",
            merchant_id,
            payment_id,
        )
        locked = await self._c.fetchval(sql, *args)
        if locked is None:
            return None
        await self.flush()
        row = await self._c.fetchrow(
            f"SELECT {PAYMENT_COLUMNS} FROM payments p WHERE p.merchant_id = $1 AND p.id = $2",
            merchant_id,
            payment_id,
        )
        if row is None:
            return None
        payment = payment_from_row(row)
        self._seen[(merchant_id, payment_id)] = payment
        return payment

    async def _write_payment(
        self, before: Payment | None, after: Payment, sql: str, args: Sequence[Any]
    ) -> None:
        """The one path of every payment write: ``sql`` stores the row, in this transaction.

        The journal entries of the money it moved (issue 6, core/storage/ledger.py)
        and its events (issue 7, the outbox) are both derived from ``before`` and
        ``after`` here, so a new path that saves a payment gets both for free.
        The ledger goes first (it reads and writes only its own tables, and a
        refused posting then leaves nothing written); the row, its events and
        the pending writes are then one statement.
        """
        await ledger_storage.post_payment_change(self._c, before, after)
        statement = self._carried(frozenset({"payments"}))
        statement.add((("payment_row", sql),), args)
        if self._outbox is not None:
            events = self._outbox.parts(before, after)
            if events is not None:
                statement.add(events.ctes, events.args)
        text, values = statement.build("SELECT count(*) FROM payment_row")
        written = await self._c.fetchval(text, *values)
        if written != 1:
            raise LookupError(f"payment {after.id} vanished while locked")
        await self._save_refunds(after)
        self._seen[(after.merchant_id, after.id)] = after

    async def insert_payment(self, payment: Payment) -> None:
        await self._write_payment(
            None,
            payment,
            f"""
            INSERT INTO payments (merchant_id, id, {MUTABLE_COLUMNS},
                currency, capture_method, confirmation_method, customer_id, create_time)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                    $17, $18, $19, $20, $21, $22)
            RETURNING 1
            """,
            (
                *row_values(payment),
                payment.currency,
                payment.capture_method.value,
                payment.confirmation_method.value,
                payment.customer_id,
                payment.created_at,
            ),
        )

    async def save_payment(self, payment: Payment) -> None:
        before = self._seen.get((payment.merchant_id, payment.id))
        if before is None:
            # Saved without being locked first in this transaction: lock and
            # read it now, so the hooks compare against what is committed.
            before = await self.lock_payment(payment.merchant_id, payment.id)
        # A routing decision, once stored, stays (a save without one keeps it).
        await self._write_payment(
            before,
            payment,
            f"""
            UPDATE payments SET ({MUTABLE_COLUMNS}) = ($3, $4, $5, $6, $7, $8, $9, $10, $11,
                $12, $13, $14, $15, $16, COALESCE($17, routing))
            WHERE merchant_id = $1 AND id = $2
            RETURNING 1
            """,
            row_values(payment),
        )

    async def _save_refunds(self, payment: Payment) -> None:
        if not payment.refunds:
            return
        await self._c.executemany(
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

    async def record_attempt(self, attempt: Attempt, at: datetime) -> None:
        await self._write(
            "channel_attempts",
            """
            INSERT INTO channel_attempts (
                merchant_id, id, payment_id, refund_id, operation, channel,
                amount, currency, channel_reference, create_time)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            """,
            attempt.merchant_id,
            attempt.id,
            attempt.payment_id,
            attempt.refund_id,
            attempt.operation.value,
            attempt.channel,
            attempt.amount.amount,
            attempt.amount.currency,
            attempt.channel_reference,
            at,
        )

    async def complete_attempt(
        self, merchant_id: str, attempt_id: str, result: ChannelResult, at: datetime
    ) -> None:
        await self._write(
            "channel_attempts",
            """
            UPDATE channel_attempts
            SET outcome = $3,
                channel_reference = CASE WHEN $4 = '' THEN channel_reference ELSE $4 END,
                failure_code = $5, complete_time = $6
            WHERE merchant_id = $1 AND id = $2
            """,
            merchant_id,
            attempt_id,
            result.outcome.value,
            result.reference,
            result.failure.code if result.failure else "",
            at,
        )

    async def record_routing(
        self, merchant_id: str, payment_id: str, routing: RoutingRecord
    ) -> None:
        written = self._seen.get((merchant_id, payment_id))
        if written is not None and written.routing == routing:
            return  # stored with the payment's row
        await self._c.execute(
            "UPDATE payments SET routing = $3 WHERE merchant_id = $1 AND id = $2",
            merchant_id,
            payment_id,
            routing_json(routing),
        )

    async def insert_card_token(self, stored: StoredCard) -> None:
        await card_tokens.insert_card_token(self._c, stored)

    async def card_token(self, merchant_id: str, token_id: str) -> StoredCard | None:
        return await card_tokens.find_card_token(self._c, merchant_id, token_id)

    async def record_audit(self, record: AuditRecord) -> None:
        await insert_audit(self._c, record)

    async def insert_merchant(self, merchant: Merchant) -> bool:
        return await access.insert_merchant(self._c, merchant)

    async def insert_api_key(self, key: ApiKey, secret_hash: bytes) -> None:
        await access.insert_api_key(self._c, key, secret_hash)

    async def refund_payment_id(self, merchant_id: str, refund_id: str) -> str | None:
        # A refund never moves to another payment, so this needs no lock; the
        # caller locks the payment next and reads the refund's state there.
        value: str | None = await self._c.fetchval(
            "SELECT payment_id FROM refunds WHERE merchant_id = $1 AND id = $2",
            merchant_id,
            refund_id,
        )
        return value

    async def merchant_settings(self, merchant_id: str) -> MerchantSettings:
        return await _merchant_settings(self._c, merchant_id, "")

    async def lock_merchant_settings(self, merchant_id: str) -> MerchantSettings:
        # Make sure the row exists so that FOR UPDATE has something to lock:
        # two first-ever updates then queue like any two updates, and each
        # audit record's "before" is what the other committed.
        await self._c.execute(
            "INSERT INTO merchant_settings (merchant_id) VALUES ($1) ON CONFLICT DO NOTHING",
            merchant_id,
        )
        return await _merchant_settings(self._c, merchant_id, "FOR UPDATE")

    async def save_merchant_settings(self, settings: MerchantSettings) -> None:
        await self._c.execute(
            """
            INSERT INTO merchant_settings (merchant_id, refund_review_thresholds, update_time)
            VALUES ($1, $2, $3)
            ON CONFLICT (merchant_id) DO UPDATE
                SET refund_review_thresholds = EXCLUDED.refund_review_thresholds,
                    update_time = EXCLUDED.update_time
            """,
            settings.merchant_id,
            [
                {"currency": t.currency, "amount": t.amount}
                for t in settings.refund_review_thresholds
            ],
            settings.updated_at,
        )

    async def lock_api_key(self, prefix: str) -> ApiKey | None:
        return await access.lock_api_key(self._c, prefix)

    async def save_api_key(self, key: ApiKey) -> None:
        await access.save_api_key(self._c, key)


async def _merchant_settings(
    connection: asyncpg.Connection | asyncpg.Pool, merchant_id: str, lock: str
) -> MerchantSettings:
    """A merchant's settings; the defaults when it has no row."""
    row = await connection.fetchrow(
        "SELECT refund_review_thresholds, update_time FROM merchant_settings"
        f" WHERE merchant_id = $1 {lock}",
        merchant_id,
    )
    if row is None:
        return MerchantSettings(merchant_id)
    return MerchantSettings(
        merchant_id=merchant_id,
        refund_review_thresholds=tuple(
            Money(int(item["amount"]), item["currency"]) for item in row["refund_review_thresholds"]
        ),
        updated_at=row["update_time"],
    )


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


class PostgresPaymentRepository:
    """PaymentRepository over an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, outbox: PaymentOutbox | None = None) -> None:
        self._pool = pool
        self._outbox = outbox  # None: no events (tools, tests of storage alone)
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
            tx = PostgresTransaction(connection, self._outbox, defer_writes=True)
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
            return await self._get_payment(merchant_id, payment_id)

    async def _get_payment(self, merchant_id: str, payment_id: str) -> Payment | None:
        row = await self._pool.fetchrow(
            f"SELECT {PAYMENT_COLUMNS} FROM payments p WHERE p.merchant_id = $1 AND p.id = $2",
            merchant_id,
            payment_id,
        )
        return None if row is None else payment_from_row(row)

    async def find_request(self, key: RequestKey) -> StoredRequest | None:
        async with unavailable_as_error():
            row = await self._pool.fetchrow(
                _SELECT_REQUEST, key.merchant_id, key.operation, key.request_id
            )
        if row is None:
            return None
        return StoredRequest(
            fingerprint=bytes(row["fingerprint"]),
            completed=row["state"] == "completed",
            reply_ok=bool(row["reply_ok"]),
            reply=bytes(row["reply"] or b""),
            created_at=row["create_time"],
        )

    async def list_payments(self, query: PaymentQuery) -> list[Payment]:
        async with unavailable_as_error():
            return await self._list_payments(query)

    async def _list_payments(self, query: PaymentQuery) -> list[Payment]:
        page = _Page("p", query.merchant_id)
        page.in_states(query.states)
        if query.customer_id:
            page.where(f"p.customer_id = {page.arg(query.customer_id)}")
        if query.created_from is not None:
            page.where(f"p.create_time >= {page.arg(query.created_from)}")
        if query.created_before is not None:
            page.where(f"p.create_time < {page.arg(query.created_before)}")
        clauses = page.clauses(query.after, query.page_size)
        rows = await self._pool.fetch(
            f"SELECT {PAYMENT_COLUMNS} FROM payments p {clauses}", *page.args
        )
        return [payment_from_row(row) for row in rows]

    async def get_merchant_settings(self, merchant_id: str) -> MerchantSettings:
        async with unavailable_as_error():
            return await _merchant_settings(self._pool, merchant_id, "")

    async def list_refunds(self, query: RefundQuery) -> list[Refund]:
        async with unavailable_as_error():
            return await self._list_refunds(query)

    async def _list_refunds(self, query: RefundQuery) -> list[Refund]:
        page = _Page("r", query.merchant_id)
        page.in_states(query.states)
        if query.payment_id:
            page.where(f"r.payment_id = {page.arg(query.payment_id)}")
        clauses = page.clauses(query.after, query.page_size)
        rows = await self._pool.fetch(
            f"SELECT r.payment_id, r.currency, {REFUND_JSON} AS refund FROM refunds r {clauses}",
            *page.args,
        )
        return [refund_from_json(row["refund"], row["payment_id"], row["currency"]) for row in rows]

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
