"""Channel attempts (table ``channel_attempts``) as a request's transaction writes them.

Both writes wait for the transaction's next statement (core/storage/session.py):
nobody in the transaction reads the attempt back. The status-query side
(leasing, settling) is core/storage/status_queries.py.
"""

from __future__ import annotations

from datetime import datetime

from core.domain.attempt import Attempt, ChannelResult
from core.storage.session import Session


class PostgresAttempts:
    """The channel attempts of one transaction (``uow.attempts``)."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    async def record(self, attempt: Attempt, at: datetime) -> None:
        """Write a channel attempt as started (before the channel is called)."""
        await self._session.write(
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

    async def complete(
        self, merchant_id: str, attempt_id: str, result: ChannelResult, at: datetime
    ) -> None:
        """Record a channel's answer to an attempt."""
        await self._session.write(
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
