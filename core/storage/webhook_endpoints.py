"""Webhook endpoints in PostgreSQL (asyncpg): table ``webhook_endpoints``.

Writes that answer an RPC take the request's connection (``connection``
arguments) so they commit with its idempotency record. Every query is
scoped by merchant. Signing secrets are stored sealed under the vault's keys
(core/vault/secrets.py) and opened as rows are read; deliveries and their
leases are core/storage/webhook_deliveries.py.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from core.domain.notifications import WebhookEndpoint
from core.ports.repository import PaymentTransaction
from core.storage.session import connection_of
from core.storage.unavailable import unavailable_as_error
from core.vault.envelope import EnvelopeError
from core.vault.secrets import SecretSealer

log = logging.getLogger(__name__)

# An endpoint's columns, on ``webhook_endpoints e`` (``endpoint_from_row`` reads them).
ENDPOINT_COLUMNS = """
    e.merchant_id, e.id, e.url, e.description, e.event_types, e.enabled, e.secret,
    e.previous_secret, e.previous_until, e.create_time, e.update_time
"""

_ENDPOINT_BY_ID = f"""
    SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e
    WHERE e.merchant_id = $1 AND e.id = $2 AND NOT e.deleted
"""


def _owner(merchant_id: str, endpoint_id: str) -> str:
    # Associated data of an endpoint's sealed secrets: they open for this endpoint only.
    return f"webhook-endpoint/{merchant_id}/{endpoint_id}"


class PostgresWebhookEndpoints:
    """Merchants' webhook endpoints."""

    def __init__(self, pool: asyncpg.Pool, sealer: SecretSealer) -> None:
        self._pool = pool
        self._sealer = sealer  # signing secrets are stored sealed (core/vault/secrets.py)

    def endpoint_from_row(self, row: asyncpg.Record) -> WebhookEndpoint:
        """The endpoint a row of ``ENDPOINT_COLUMNS`` holds, its secrets opened when they can be."""
        owner = _owner(row["merchant_id"], row["id"])
        return WebhookEndpoint(
            id=row["id"],
            merchant_id=row["merchant_id"],
            url=row["url"],
            description=row["description"],
            event_types=tuple(row["event_types"]),
            enabled=row["enabled"],
            secret=self._sealer.open_or_keep(row["secret"], owner),
            previous_secret=self._sealer.open_or_keep(row["previous_secret"], owner),
            previous_until=row["previous_until"],
            created_at=row["create_time"],
            updated_at=row["update_time"],
        )

    def _needs_reseal(self, row: asyncpg.Record) -> bool:
        try:
            return not (
                self._sealer.under_active_key(row["secret"])
                and self._sealer.under_active_key(row["previous_secret"])
            )
        except EnvelopeError:
            # Not a sealed value: nothing to re-wrap; say so rather than stop the rotation.
            log.error("webhook endpoint %s has a secret that is not sealed; skipped", row["id"])
            return False

    async def reseal_secrets(self, batch_size: int) -> int:
        """Re-wrap up to ``batch_size`` endpoints' secrets under the active vault key (rotation).

        Returns how many endpoints changed (0: none left). Secrets are not opened.
        """
        sealer = self._sealer
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                "SELECT merchant_id, id, secret, previous_secret FROM webhook_endpoints FOR UPDATE"
            )
            stale = [row for row in rows if self._needs_reseal(row)][:batch_size]
            for row in stale:
                await connection.execute(
                    "UPDATE webhook_endpoints SET secret = $3, previous_secret = $4"
                    " WHERE merchant_id = $1 AND id = $2",
                    row["merchant_id"],
                    row["id"],
                    sealer.rewrapped(row["secret"]),
                    sealer.rewrapped(row["previous_secret"]),
                )
        return len(stale)

    # --- RPC writes run on the request's transaction ----------------------------

    @staticmethod
    async def count_endpoints(tx: PaymentTransaction, merchant_id: str) -> int:
        """How many live endpoints the merchant has.

        The rows are locked FOR NO KEY UPDATE, which does not block payments
        fanning events out to them (their foreign keys take KEY SHARE). Two
        concurrent creates may each miss the other's row: the limit is a guard
        against runaway registrations, not an exact quota.
        """
        rows = await connection_of(tx).fetch(
            """
            SELECT 1 FROM webhook_endpoints
            WHERE merchant_id = $1 AND NOT deleted FOR NO KEY UPDATE
            """,
            merchant_id,
        )
        return len(rows)

    async def lock_endpoint(
        self, tx: PaymentTransaction, merchant_id: str, endpoint_id: str
    ) -> WebhookEndpoint | None:
        """A live endpoint, locked until the transaction ends."""
        row = await connection_of(tx).fetchrow(
            f"{_ENDPOINT_BY_ID} FOR NO KEY UPDATE", merchant_id, endpoint_id
        )
        return None if row is None else self.endpoint_from_row(row)

    async def save_endpoint(self, tx: PaymentTransaction, endpoint: WebhookEndpoint) -> None:
        """Store a new endpoint, or every mutable field of an existing one (secrets sealed)."""
        owner = _owner(endpoint.merchant_id, endpoint.id)
        await connection_of(tx).execute(
            """
            INSERT INTO webhook_endpoints AS w (merchant_id, id, url, description, event_types,
                enabled, secret, previous_secret, previous_until, create_time, update_time)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (merchant_id, id) DO UPDATE SET url = EXCLUDED.url,
                description = EXCLUDED.description, event_types = EXCLUDED.event_types,
                enabled = EXCLUDED.enabled, secret = EXCLUDED.secret,
                previous_secret = EXCLUDED.previous_secret,
                previous_until = EXCLUDED.previous_until, update_time = EXCLUDED.update_time
            """,
            endpoint.merchant_id,
            endpoint.id,
            endpoint.url,
            endpoint.description,
            list(endpoint.event_types),
            endpoint.enabled,
            self._sealer.seal(endpoint.secret, owner),
            self._sealer.seal(endpoint.previous_secret, owner),
            endpoint.previous_until,
            endpoint.created_at,
            endpoint.updated_at,
        )

    @staticmethod
    async def delete_endpoint(
        tx: PaymentTransaction, merchant_id: str, endpoint_id: str, at: datetime
    ) -> None:
        """Mark an endpoint deleted and end its pending deliveries (kept for the record)."""
        connection = connection_of(tx)
        await connection.execute(
            """
            UPDATE webhook_endpoints SET deleted = true, enabled = false, update_time = $3
            WHERE merchant_id = $1 AND id = $2
            """,
            merchant_id,
            endpoint_id,
            at,
        )
        await connection.execute(
            """
            UPDATE webhook_deliveries SET state = 'dead', last_error = 'endpoint deleted',
                lease_token = NULL, lease_until = NULL, update_time = $3
            WHERE merchant_id = $1 AND endpoint_id = $2 AND state = 'pending'
            """,
            merchant_id,
            endpoint_id,
            at,
        )

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def get_endpoint(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """One live endpoint of the merchant."""
        row = await self._pool.fetchrow(_ENDPOINT_BY_ID, merchant_id, endpoint_id)
        return None if row is None else self.endpoint_from_row(row)

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def list_endpoints(self, merchant_id: str) -> list[WebhookEndpoint]:
        """The merchant's live endpoints, oldest first."""
        rows = await self._pool.fetch(
            f"""
            SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e
            WHERE e.merchant_id = $1 AND NOT e.deleted ORDER BY e.create_time, e.id
            """,
            merchant_id,
        )
        return [self.endpoint_from_row(row) for row in rows]
