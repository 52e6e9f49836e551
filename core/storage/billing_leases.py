"""The billing runner's scan and lease of due subscriptions in PostgreSQL (asyncpg).

A runner takes a due subscription by setting ``lease_owner`` and ``lease_until``
in one conditional UPDATE (``FOR UPDATE SKIP LOCKED`` in its scan, so two
runners never wait for or take the same row); while the lease holds no other
runner picks it. A runner that dies keeps its lease until it expires; whoever
takes it then re-runs the subscription's step, and the charge's request_id
(core/domain/invoices.py) makes that re-run replay the first charge instead of
making a second one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from core.ports.subscriptions import DueSubscription


class PostgresBillingLeases:
    """``BillingLeases``: the due scan, each row leased by one runner."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def lease_due(
        self, owner: str, wall: datetime, lease_s: float, limit: int
    ) -> Sequence[DueSubscription]:
        """Lease up to ``limit`` subscriptions due by their merchant's clock (test or wall)."""
        rows = await self._pool.fetch(
            """
            WITH due AS (
                SELECT s.merchant_id, s.id FROM subscriptions s
                LEFT JOIN test_clocks c ON c.merchant_id = s.merchant_id
                WHERE s.next_billing_at IS NOT NULL
                  AND s.next_billing_at <= coalesce(c.now, $2)
                  AND (s.lease_until IS NULL OR s.lease_until < $2)
                ORDER BY s.next_billing_at LIMIT $4
                FOR NO KEY UPDATE OF s SKIP LOCKED
            )
            UPDATE subscriptions s SET lease_owner = $1, lease_until = $3
            FROM due WHERE s.merchant_id = due.merchant_id AND s.id = due.id
            RETURNING s.merchant_id, s.id
            """,
            owner,
            wall,
            wall + timedelta(seconds=lease_s),
            limit,
        )
        return [DueSubscription(row["merchant_id"], row["id"]) for row in rows]

    async def release(self, owner: str, due: DueSubscription) -> None:
        """End ``owner``'s lease of the subscription (a lease taken over since is left alone)."""
        await self._pool.execute(
            """
            UPDATE subscriptions SET lease_owner = NULL, lease_until = NULL
            WHERE merchant_id = $1 AND id = $2 AND lease_owner = $3
            """,
            due.merchant_id,
            due.subscription_id,
            owner,
        )
