"""Request_ids' records (table ``idempotency_keys``): claiming, completing, reading them."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from core.ports.repository import Claim, ClaimStatus, RequestKey, StoredRequest
from core.storage.session import Session

# A request_id's record, read after a conflicting claim and by repeats.
_SELECT_REQUEST = """
    SELECT fingerprint, state, reply_ok, reply, resource_id, create_time FROM idempotency_keys
    WHERE merchant_id = $1 AND operation = $2 AND request_id = $3
"""


class PostgresRequests:
    """The request_id records of one transaction (``uow.requests``)."""

    __slots__ = ("_session",)

    def __init__(self, session: Session) -> None:
        self._session = session

    async def claim(
        self, key: RequestKey, fingerprint: bytes, at: datetime, lease_s: float, ttl_s: int
    ) -> Claim:
        """Claim ``key`` for this request, or report who has it."""
        # INSERT first: the unique key makes a concurrent claim of the same
        # request_id wait for this transaction, then see our row. A row older
        # than the TTL is forgotten and taken over in the same statement.
        await self._session.flush()
        connection = self._session.connection
        row = await connection.fetchrow(
            """
            INSERT INTO idempotency_keys AS k
                (merchant_id, operation, request_id, fingerprint, state, create_time, lease_until)
            VALUES ($1, $2, $3, $4, 'in_progress', $5, $6)
            ON CONFLICT (merchant_id, operation, request_id) DO UPDATE
                SET fingerprint = EXCLUDED.fingerprint, state = 'in_progress', reply_ok = NULL,
                    reply = NULL, resource_id = '', create_time = EXCLUDED.create_time,
                    lease_until = EXCLUDED.lease_until, complete_time = NULL
                WHERE k.create_time < $7
            RETURNING 1
            """,
            key.merchant_id,
            key.operation,
            key.request_id,
            fingerprint,
            at,
            at + timedelta(seconds=lease_s),
            at - timedelta(seconds=ttl_s),
        )
        if row is not None:
            return Claim(ClaimStatus.NEW)
        existing = await connection.fetchrow(
            _SELECT_REQUEST, key.merchant_id, key.operation, key.request_id
        )
        assert existing is not None  # the conflicting row is committed and not expired
        if bytes(existing["fingerprint"]) != fingerprint:
            return Claim(ClaimStatus.MISMATCH)
        if existing["state"] == "completed":
            return Claim(
                ClaimStatus.COMPLETED,
                reply_ok=existing["reply_ok"],
                reply=bytes(existing["reply"]),
                resource_id=existing["resource_id"],
            )
        return Claim(
            ClaimStatus.IN_PROGRESS,
            resource_id=existing["resource_id"],
            created_at=existing["create_time"],
        )

    async def complete(
        self, key: RequestKey, ok: bool, reply: bytes, resource_id: str, at: datetime
    ) -> None:
        """Store the reply of a claimed request (committed with the transaction)."""
        await self._session.write(
            "idempotency_keys",
            """
            UPDATE idempotency_keys
            SET state = 'completed', reply_ok = $4, reply = $5, resource_id = $6, complete_time = $7
            WHERE merchant_id = $1 AND operation = $2 AND request_id = $3
            """,
            key.merchant_id,
            key.operation,
            key.request_id,
            ok,
            reply,
            resource_id,
            at,
        )

    async def set_resource(self, key: RequestKey, resource_id: str) -> None:
        """Remember which resource an unfinished request is working on."""
        await self._session.write(
            "idempotency_keys",
            """
            UPDATE idempotency_keys SET resource_id = $4
            WHERE merchant_id = $1 AND operation = $2 AND request_id = $3
            """,
            key.merchant_id,
            key.operation,
            key.request_id,
            resource_id,
        )


async def find_request(pool: asyncpg.Pool, key: RequestKey) -> StoredRequest | None:
    """The committed record of a request_id, if any (no lock, no claim)."""
    row = await pool.fetchrow(_SELECT_REQUEST, key.merchant_id, key.operation, key.request_id)
    if row is None:
        return None
    return StoredRequest(
        fingerprint=bytes(row["fingerprint"]),
        completed=row["state"] == "completed",
        reply_ok=bool(row["reply_ok"]),
        reply=bytes(row["reply"] or b""),
        created_at=row["create_time"],
    )
