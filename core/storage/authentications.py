"""Payments' 3-D Secure authentications in PostgreSQL: table ``payment_authentications``.

``PostgresAuthentications`` is the unit of work's repository
(``uow.authentications``); ``PostgresChallengeReads`` finds challenges on the
pool (the completion endpoint, the expiry sweep). A payment read back carries
its authentication through core/storage/payment_reads.py.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from core.domain.payment import Payment
from core.ports.authentications import ChallengeRecord


class PostgresAuthentications:
    """Writes of one transaction (``uow.authentications``)."""

    __slots__ = ("_connection",)

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def save(self, payment: Payment, card_token: str = "") -> None:
        """Insert the payment's authentication, or update its result.

        The challenge's pages, deadline and card token are written once, when
        it opens; later saves change the result only (the return page is
        kept: a repeated completion is sent back there).
        """
        result = payment.authentication
        if result is None:
            return
        redirect = payment.next_action.redirect if payment.next_action else None
        expires_at = payment.next_action.expires_at if redirect and payment.next_action else None
        await self._connection.execute(
            """
            INSERT INTO payment_authentications (merchant_id, payment_id, flow, status, eci,
                liability_shift, redirect_url, return_url, expire_time, card_token, update_time)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (merchant_id, payment_id) DO UPDATE SET
                flow = EXCLUDED.flow, status = EXCLUDED.status, eci = EXCLUDED.eci,
                liability_shift = EXCLUDED.liability_shift, update_time = EXCLUDED.update_time
            """,
            payment.merchant_id,
            payment.id,
            result.flow.value,
            result.status.value,
            result.eci,
            result.liability_shift,
            redirect.url if redirect else "",
            redirect.return_url if redirect else "",
            expires_at,
            card_token,
            payment.updated_at,
        )


class PostgresChallengeReads:
    """Challenges on the pool (no transaction)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def challenge(self, payment_id: str) -> ChallengeRecord | None:
        """The challenge of ``payment_id``, or None (no such payment, or no challenge)."""
        row = await self._pool.fetchrow(
            """
            SELECT merchant_id, payment_id, return_url, card_token
            FROM payment_authentications WHERE payment_id = $1 AND flow = 'challenge'
            """,
            payment_id,
        )
        return None if row is None else ChallengeRecord(*row)

    async def expired(self, at: datetime, limit: int) -> list[tuple[str, str]]:
        """Open challenges past their deadline, the oldest deadline first."""
        rows = await self._pool.fetch(
            """
            SELECT merchant_id, payment_id FROM payment_authentications
            WHERE status = 'challenge_pending' AND expire_time <= $1
            ORDER BY expire_time LIMIT $2
            """,
            at,
            limit,
        )
        return [(row["merchant_id"], row["payment_id"]) for row in rows]
