"""What paycore recorded on one channel over a period, for reconciliation."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from core.domain.reconciliation import RecordedAttempt
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
