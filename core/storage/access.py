"""API keys in PostgreSQL (asyncpg), and what authentication and superadmins read.

Writes run inside the executor's transaction (``PostgresApiKeys`` is its
``uow.keys``), so a key change commits together with its audit record and the
request_id's stored reply. ``PostgresAccessStore`` reads keys, merchants
(rows of core/storage/merchants.py) and the audit trail on the pool.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from core.auth.keys import (
    ApiKey,
    IssuedKey,
    KeyLookup,
    Merchant,
    check_key_scope,
    generate_key,
)
from core.auth.policy import Role
from core.domain.audit import Actor, AuditFilter, AuditRecord, StoredAudit
from core.storage.audit import insert_audit
from core.storage.merchants import MERCHANT_COLUMNS, PostgresMerchants, merchant_from_row
from core.storage.unavailable import unavailable_as_error

_KEY_COLUMNS = (
    "prefix, merchant_id, role, description, create_time, expire_time, revoke_time, rotated_to"
)


def _key(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        prefix=row["prefix"],
        merchant_id=row["merchant_id"],
        role=Role.parse(row["role"]),
        description=row["description"],
        created_at=row["create_time"],
        expires_at=row["expire_time"],
        revoked_at=row["revoke_time"],
        rotated_to=row["rotated_to"],
    )


class PostgresApiKeys:
    """The API keys of one transaction (``uow.keys``)."""

    __slots__ = ("_c",)

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._c = connection

    async def insert(self, key: ApiKey, secret_hash: bytes) -> None:
        """Store a new key (only its hash)."""
        await self._c.execute(
            f"INSERT INTO api_keys ({_KEY_COLUMNS}, secret_hash)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            key.prefix,
            key.merchant_id,
            key.role.label,
            key.description,
            key.created_at,
            key.expires_at,
            key.revoked_at,
            key.rotated_to,
            secret_hash,
        )

    async def lock(self, prefix: str) -> ApiKey | None:
        """Read a key and lock its row until the transaction ends (revoke/rotate races)."""
        row = await self._c.fetchrow(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE prefix = $1 FOR UPDATE", prefix
        )
        return _key(row) if row else None

    async def save(self, key: ApiKey) -> None:
        """Store a key's mutable fields (expiry, revocation, successor)."""
        await self._c.execute(
            "UPDATE api_keys SET expire_time = $2, revoke_time = $3, rotated_to = $4"
            " WHERE prefix = $1",
            key.prefix,
            key.expires_at,
            key.revoked_at,
            key.rotated_to,
        )


async def superadmin_key_exists(connection: asyncpg.Connection) -> bool:
    """Whether any superadmin key that is not revoked exists (bootstrap runs once)."""
    found: bool = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = 'superadmin' AND revoke_time IS NULL)"
    )
    return found


_BOOTSTRAP_LOCK = 0x6B657973  # "keys": one bootstrap at a time across processes


class BootstrapRefusedError(Exception):
    """A superadmin key exists already; the first one is made only once."""


async def issue_key(
    connection: asyncpg.Connection,
    *,
    role: Role,
    merchant_id: str | None,
    description: str,
    merchant_name: str | None = None,
    raw_card_data_allowed: bool = False,
    only_if_no_superadmin: bool = False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IssuedKey:
    """Create a key without the API, in one transaction, audited as actor ``system``.

    For the CLI (``paycore keys bootstrap`` / ``paycore keys create``) and test
    fixtures. With ``merchant_name`` the merchant is created too when it does
    not exist; otherwise it must exist. With ``only_if_no_superadmin`` it
    refuses (BootstrapRefusedError) when an unrevoked superadmin key exists.
    """
    check_key_scope(role, merchant_id)
    issued = generate_key()
    actor = Actor(role="system", key_id=None, merchant_id=None)
    async with connection.transaction():
        at = clock()
        if only_if_no_superadmin:
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _BOOTSTRAP_LOCK)
            if await superadmin_key_exists(connection):
                raise BootstrapRefusedError("a superadmin key exists already")
        if merchant_id is not None and merchant_name is not None:
            merchant = Merchant(merchant_id, merchant_name, at, raw_card_data_allowed)
            if await PostgresMerchants(connection).insert(merchant):
                await insert_audit(
                    connection,
                    AuditRecord(
                        actor,
                        "merchant.create",
                        "merchant",
                        merchant_id,
                        merchant_id,
                        at,
                        after=merchant.audit_view(),
                    ),
                )
        api_key = ApiKey(issued.prefix, merchant_id, role, description, at)
        await PostgresApiKeys(connection).insert(api_key, issued.secret_hash)
        await insert_audit(
            connection,
            AuditRecord(
                actor,
                "api_key.create",
                "api_key",
                api_key.prefix,
                merchant_id,
                at,
                after=api_key.audit_view(),
            ),
        )
    return issued


class PostgresAccessStore:
    """Reads of merchants and keys over the pool (outside any request transaction)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find_key(self, prefix: str) -> KeyLookup | None:
        """The key with ``prefix``, its hash and its merchant's flags (None: no such key)."""
        async with unavailable_as_error():
            row = await self._pool.fetchrow(
                f"""
                SELECT {", ".join("k." + c.strip() for c in _KEY_COLUMNS.split(","))},
                       k.secret_hash, COALESCE(m.raw_card_data_allowed, false) AS raw_allowed
                FROM api_keys k LEFT JOIN merchants m ON m.id = k.merchant_id
                WHERE k.prefix = $1
                """,
                prefix,
            )
        if row is None:
            return None
        return KeyLookup(_key(row), bytes(row["secret_hash"]), row["raw_allowed"])

    async def get_merchant(self, merchant_id: str) -> Merchant | None:
        """One merchant, or None."""
        async with unavailable_as_error():
            row = await self._pool.fetchrow(
                f"SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = $1", merchant_id
            )
        return merchant_from_row(row) if row else None

    async def list_merchants(self, after_id: str, limit: int) -> list[Merchant]:
        """Up to ``limit`` merchants ordered by id, after ``after_id``."""
        async with unavailable_as_error():
            rows = await self._pool.fetch(
                f"SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id > $1 ORDER BY id LIMIT $2",
                after_id,
                limit,
            )
        return [merchant_from_row(row) for row in rows]

    async def get_key(self, prefix: str) -> ApiKey | None:
        """One key (no hash), or None."""
        async with unavailable_as_error():
            row = await self._pool.fetchrow(
                f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE prefix = $1", prefix
            )
        return _key(row) if row else None

    async def list_audit(
        self, where: AuditFilter, before_id: int | None, limit: int
    ) -> list[StoredAudit]:
        """Up to ``limit`` events matching ``where``, newest first, older than ``before_id``."""
        async with unavailable_as_error():
            rows = await self._pool.fetch(
                """
                SELECT * FROM audit_events
                WHERE ($1 = '' OR merchant_id = $1) AND ($2 = '' OR resource_type = $2)
                  AND ($3 = '' OR resource_id = $3) AND ($4 = '' OR action = $4)
                  AND ($5::bigint IS NULL OR id < $5)
                ORDER BY id DESC LIMIT $6
                """,
                where.merchant_id,
                where.resource_type,
                where.resource_id,
                where.action,
                before_id,
                limit,
            )
        return [
            StoredAudit(
                row["id"],
                AuditRecord(
                    actor=Actor(row["actor_role"], row["actor_key_id"], row["actor_merchant"]),
                    action=row["action"],
                    resource_type=row["resource_type"],
                    resource_id=row["resource_id"],
                    merchant_id=row["merchant_id"],
                    at=row["at"],
                    before=row["before"],
                    after=row["after"],
                    details=row["details"] or {},
                ),
            )
            for row in rows
        ]

    async def list_keys(self, merchant_id: str | None) -> list[ApiKey]:
        """Every key of a merchant (None: the platform's superadmin keys), oldest first."""
        async with unavailable_as_error():
            rows: list[Any] = await self._pool.fetch(
                f"SELECT {_KEY_COLUMNS} FROM api_keys"
                " WHERE merchant_id IS NOT DISTINCT FROM $1 ORDER BY create_time, prefix",
                merchant_id,
            )
        return [_key(row) for row in rows]
