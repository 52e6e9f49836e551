"""What paycore recorded on one channel over a period, for reconciliation: its attempts
and its dispute movements (``recorded_movements``)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from core.domain.reconciliation import CHARGEBACK, CHARGEBACK_REVERSAL, RecordedAttempt
from core.storage.unavailable import unavailable_as_error


async def recorded_attempts(
    pool: asyncpg.Pool, channel: str, since: datetime, until: datetime
) -> list[RecordedAttempt]:
    """Every attempt on ``channel`` recorded in ``[since, until)``, of every merchant."""
    async with unavailable_as_error():
        rows = await pool.fetch(
            """
            SELECT id, payment_id, operation, amount, currency, outcome FROM channel_attempts
            WHERE channel = $1 AND create_time >= $2 AND create_time < $3
            """,
            channel,
            since,
            until,
        )
    return [
        RecordedAttempt(
            attempt_id=row["id"],
            payment_id=row["payment_id"],
            operation=row["operation"],
            amount_minor=row["amount"],
            currency=row["currency"],
            outcome=row["outcome"],
        )
        for row in rows
    ]


async def recorded_disputes(
    pool: asyncpg.Pool, channel: str, since: datetime, until: datetime
) -> list[RecordedAttempt]:
    """The dispute movements on ``channel`` in ``[since, until)``, of every merchant.

    A chargeback opened in the period (an inquiry that became one: when the
    inquiry was opened) is a ``chargeback``; one won in the period is also a
    ``chargeback_reversal`` (won is final, so its update time is when it was won).
    Both are keyed by the channel's dispute reference.
    """
    async with unavailable_as_error():
        rows = await pool.fetch(
            """
            SELECT channel_reference, payment_id, amount, currency,
                   create_time >= $2 AND create_time < $3 AS opened,
                   status = 'won' AND update_time >= $2 AND update_time < $3 AS won
            FROM disputes
            WHERE channel = $1 AND kind = 'chargeback'
              AND ((create_time >= $2 AND create_time < $3)
                   OR (status = 'won' AND update_time >= $2 AND update_time < $3))
            """,
            channel,
            since,
            until,
        )
    return [
        RecordedAttempt(
            attempt_id=row["channel_reference"],
            payment_id=row["payment_id"],
            operation=operation,
            amount_minor=row["amount"],
            currency=row["currency"],
            outcome="succeeded",
        )
        for row in rows
        for operation, moved in ((CHARGEBACK, row["opened"]), (CHARGEBACK_REVERSAL, row["won"]))
        if moved
    ]


async def recorded_movements(
    pool: asyncpg.Pool, channel: str, since: datetime, until: datetime
) -> list[RecordedAttempt]:
    """Everything a settlement report of ``channel`` for the period should list."""
    attempts = await recorded_attempts(pool, channel, since, until)
    return attempts + await recorded_disputes(pool, channel, since, until)
