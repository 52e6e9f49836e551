"""Merchants' own routing chains (table ``merchant_routing``) over asyncpg."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from core.domain.merchant_routing import MerchantRouting
from core.ports.repository import PaymentTransaction
from core.storage.unavailable import unavailable_as_error
from core.storage.unit_of_work import PostgresTransaction


def _connection(tx: PaymentTransaction) -> asyncpg.Connection:
    if not isinstance(tx, PostgresTransaction):
        raise TypeError("routing storage needs a PostgresTransaction")
    return tx.connection


def _routing(merchant_id: str, row: asyncpg.Record | None) -> MerchantRouting:
    if row is None:
        return MerchantRouting(merchant_id)
    return MerchantRouting(merchant_id, row["chain"], row["update_time"])


class PostgresRoutingStore:
    """Read, lock and save merchants' routing chains."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def custom_chains(self) -> dict[str, Mapping[str, Any]]:
        """Every merchant's own chain (merchants using the file's are left out)."""
        async with unavailable_as_error():
            rows = await self._pool.fetch(
                "SELECT merchant_id, chain FROM merchant_routing WHERE chain IS NOT NULL"
            )
        return {row["merchant_id"]: row["chain"] for row in rows}

    async def get(self, merchant_id: str) -> MerchantRouting:
        """The merchant's routing (no chain of its own when never set)."""
        async with unavailable_as_error():
            row = await self._pool.fetchrow(
                "SELECT chain, update_time FROM merchant_routing WHERE merchant_id = $1",
                merchant_id,
            )
        return _routing(merchant_id, row)

    async def lock(self, tx: PaymentTransaction, merchant_id: str) -> MerchantRouting:
        """The merchant's routing, its row locked until ``tx`` ends (created if missing)."""
        connection = _connection(tx)
        await connection.execute(
            "INSERT INTO merchant_routing (merchant_id) VALUES ($1) ON CONFLICT DO NOTHING",
            merchant_id,
        )
        row = await connection.fetchrow(
            "SELECT chain, update_time FROM merchant_routing WHERE merchant_id = $1 FOR UPDATE",
            merchant_id,
        )
        return _routing(merchant_id, row)

    async def save(self, tx: PaymentTransaction, routing: MerchantRouting) -> None:
        """Store ``routing`` (its row is locked by ``lock``)."""
        await _connection(tx).execute(
            "UPDATE merchant_routing SET chain = $2, update_time = $3 WHERE merchant_id = $1",
            routing.merchant_id,
            None if routing.chain is None else dict(routing.chain),
            routing.updated_at,
        )
