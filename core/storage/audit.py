"""Appending to the audit trail (audit_events, append-only; see 0003_audit.sql)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg

from core.domain.audit import AuditRecord


async def insert_audit(connection: asyncpg.Connection, record: AuditRecord) -> None:
    """Append ``record`` to audit_events on ``connection`` (inside the caller's transaction)."""
    await connection.execute(
        """
        INSERT INTO audit_events (at, actor_role, actor_key_id, actor_merchant, action,
                                  resource_type, resource_id, merchant_id, before, after, details)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb, $10::text::jsonb, $11::text::jsonb)
        """,
        # ::text first: the values are JSON text already, and the pool's jsonb
        # codec would encode them a second time (storing a JSON string, not an
        # object that before->>'state' can read).
        record.at,
        record.actor.role,
        record.actor.key_id,
        record.actor.merchant_id,
        record.action,
        record.resource_type,
        record.resource_id,
        record.merchant_id,
        _json_or_null(record.before),
        _json_or_null(record.after),
        json.dumps(dict(record.details), sort_keys=True, default=str),
    )


def _json_or_null(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(dict(value), sort_keys=True, default=str)


class PostgresAudit:
    """The audit trail of one transaction (``uow.audit``)."""

    __slots__ = ("_c",)

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._c = connection

    async def record(self, record: AuditRecord) -> None:
        """Append an admin action to the trail (commits with the change it describes)."""
        await insert_audit(self._c, record)


def append_to(pool: asyncpg.Pool) -> Callable[[AuditRecord], Awaitable[None]]:
    """Appends records to the trail each in a transaction of its own (events of the system)."""

    async def append(record: AuditRecord) -> None:
        async with pool.acquire() as connection:
            await insert_audit(connection, record)

    return append
