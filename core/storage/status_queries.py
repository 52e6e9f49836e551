"""PostgreSQL side of the status-query scheduler: leasing unresolved attempts, settling them.

Leasing: one statement picks due attempts with ``FOR UPDATE SKIP LOCKED``
and stamps ``lease_until`` on them, so several workers polling at once take
disjoint batches, and an attempt whose worker died is picked again once the
lease has run out. Settling happens in a transaction that first locks the
attempt row and checks it is still unresolved: whoever gets there first (a
status query, a channel notification, the request itself) settles it; the
others see it settled and change nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import asyncpg

from core.domain.attempt import Attempt, ChannelOperation
from core.domain.money import Money
from core.ports.status_queries import DueAttempt, FoundAttempt, LeaseTerms
from core.storage.events import PaymentOutbox
from core.storage.unavailable import unavailable_as_error
from core.storage.unit_of_work import PostgresTransaction

_UNRESOLVED = "('started', 'unknown', 'pending')"


def _attempt_from_row(row: asyncpg.Record) -> Attempt:
    return Attempt(
        id=row["id"],
        merchant_id=row["merchant_id"],
        payment_id=row["payment_id"],
        operation=ChannelOperation(row["operation"]),
        channel=row["channel"],
        amount=Money(row["amount"], row["currency"]),
        refund_id=row["refund_id"],
        channel_reference=row["channel_reference"],
    )


class PostgresSettlement(PostgresTransaction):
    """A payment transaction that can also lock and reschedule channel attempts."""

    async def lock_unresolved_attempt(self, merchant_id: str, attempt_id: str) -> bool:
        """Lock the attempt's row; True when it is still unresolved (and not given up on)."""
        outcome = await self.connection.fetchval(
            "SELECT outcome FROM channel_attempts"
            " WHERE merchant_id = $1 AND id = $2 AND NOT needs_attention FOR UPDATE",
            merchant_id,
            attempt_id,
        )
        return outcome in ("started", "unknown", "pending")

    async def reschedule_attempt(
        self, merchant_id: str, attempt_id: str, next_query: datetime | None
    ) -> None:
        """Count a query that could not tell; ``next_query`` None marks it for manual attention."""
        await self.connection.execute(
            """
            UPDATE channel_attempts
            SET query_count = query_count + 1, lease_until = NULL,
                next_query_time = $3::timestamptz, needs_attention = $3::timestamptz IS NULL
            WHERE merchant_id = $1 AND id = $2
            """,
            merchant_id,
            attempt_id,
            next_query,
        )


class PostgresStatusQueryStore:
    """Unresolved channel attempts over an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, outbox: PaymentOutbox | None = None) -> None:
        self._pool = pool
        # Late answers change payments like any request does: with their events.
        self._outbox = outbox

    async def lease_due(self, now: datetime, terms: LeaseTerms) -> list[DueAttempt]:
        """Lease up to ``terms.batch_size`` due attempts to this worker (oldest first)."""
        async with unavailable_as_error():
            rows = await self._pool.fetch(
                f"""
                WITH due AS (
                    SELECT merchant_id, id FROM channel_attempts
                    WHERE outcome IN {_UNRESOLVED} AND NOT needs_attention
                      AND channel = ANY($6::text[])
                      AND (lease_until IS NULL OR lease_until < $1)
                      AND COALESCE(
                            next_query_time,
                            CASE outcome WHEN 'started' THEN create_time + $2
                                         WHEN 'pending' THEN complete_time + $7
                                         ELSE complete_time + $3 END) <= $1
                    ORDER BY create_time
                    LIMIT $4
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE channel_attempts a SET lease_until = $1 + $5
                FROM due WHERE a.merchant_id = due.merchant_id AND a.id = due.id
                RETURNING a.*
                """,
                now,
                timedelta(seconds=terms.started_grace_s),
                timedelta(seconds=terms.first_delay_s),
                terms.batch_size,
                timedelta(seconds=terms.lease_s),
                list(terms.channels),
                timedelta(seconds=terms.pending_first_delay_s),
            )
        return [
            DueAttempt(_attempt_from_row(row), row["outcome"], row["query_count"]) for row in rows
        ]

    async def find_attempt(self, channel: str, attempt_id: str) -> FoundAttempt | None:
        """The attempt ``attempt_id`` on ``channel``, with its recorded outcome and age."""
        async with unavailable_as_error():
            row = await self._pool.fetchrow(
                "SELECT * FROM channel_attempts WHERE id = $1 AND channel = $2",
                attempt_id,
                channel,
            )
        if row is None:
            return None
        return FoundAttempt(_attempt_from_row(row), row["outcome"], row["create_time"])

    @asynccontextmanager
    async def settlement(self) -> AsyncIterator[PostgresSettlement]:
        """A transaction to settle one attempt (commits on normal exit)."""
        async with (
            unavailable_as_error(),
            self._pool.acquire() as connection,
            connection.transaction(),
        ):
            yield PostgresSettlement(connection, self._outbox)
