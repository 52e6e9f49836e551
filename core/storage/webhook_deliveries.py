"""Webhook deliveries and their attempts in PostgreSQL (asyncpg), and the relay's leases.

Redelivery answers an RPC and takes the request's connection so it commits
with its idempotency record; the relay's leasing runs in short transactions
of its own. Every query is scoped by merchant except the relay's, which
works across merchants.

Leases (``lease_due``): a due delivery is claimed with ``FOR UPDATE SKIP
LOCKED`` (concurrent relay workers, in any process, skip each other's rows
instead of queueing) and stamped with a random ``lease_token`` and a
``lease_until``. Only the holder of the token can record the outcome; if its
worker dies, the lease expires and the delivery is due again, so a crash
costs at most a duplicate POST (at-least-once), never a lost one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.domain.notifications import (
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    LeasedDelivery,
)
from core.ports.repository import PaymentTransaction
from core.ports.webhooks import DeliveryQuery
from core.storage.events import event_from_row
from core.storage.session import connection_of
from core.storage.unavailable import unavailable_as_error
from core.storage.webhook_endpoints import ENDPOINT_COLUMNS, PostgresWebhookEndpoints
from core.vault.secrets import is_sealed

log = logging.getLogger(__name__)

# Deliveries of endpoint ``e`` that are due and not leased (a lease that
# expired counts as not leased: its worker died).
_DUE = """
    SELECT 1 FROM webhook_deliveries d
    WHERE d.merchant_id = e.merchant_id AND d.endpoint_id = e.id AND d.state = 'pending'
      AND d.next_attempt_at <= now() AND (d.lease_until IS NULL OR d.lease_until <= now())
"""


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one POST of a leased delivery gave."""

    status_code: int
    latency_ms: int
    error: str

    @property
    def ok(self) -> bool:
        """A 2xx answer: delivered."""
        return 200 <= self.status_code < 300


class PostgresWebhookDeliveries:
    """Deliveries of events to endpoints, their attempts, and the relay's leases on them."""

    def __init__(self, pool: asyncpg.Pool, endpoints: PostgresWebhookEndpoints) -> None:
        self._pool = pool
        self._endpoints = endpoints  # reads the endpoints leased with their deliveries

    # --- queries and redelivery -------------------------------------------------

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def list_deliveries(self, query: DeliveryQuery) -> list[Delivery]:
        """Deliveries matching ``query``, newest first, with their attempts."""
        conditions = ["d.merchant_id = $1"]
        args: list[Any] = [query.merchant_id]

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if query.endpoint_id:
            conditions.append(f"d.endpoint_id = {arg(query.endpoint_id)}")
        if query.event_id:
            conditions.append(f"ev.id = {arg(query.event_id)}")
        if query.states:
            conditions.append(f"d.state = ANY({arg([s.value for s in query.states])}::text[])")
        if query.before_id is not None:
            conditions.append(f"d.id < {arg(query.before_id)}")
        sql = f"""
            {_DELIVERY_SELECT} WHERE {" AND ".join(conditions)}
            ORDER BY d.id DESC LIMIT {arg(query.page_size)}
        """
        async with self._pool.acquire() as connection:
            return await _with_history(connection, await connection.fetch(sql, *args))

    @staticmethod
    async def redeliver(
        tx: PaymentTransaction, merchant_id: str, event_sequence: int, endpoint_id: str
    ) -> list[Delivery]:
        """Make the event's finished or dead deliveries pending again, due now, in a new round."""
        connection = connection_of(tx)
        again = await connection.fetch(
            """
            UPDATE webhook_deliveries d SET state = 'pending', next_attempt_at = now(),
                round_start = d.attempts, lease_token = NULL, lease_until = NULL,
                update_time = now()
            FROM webhook_endpoints e
            WHERE d.merchant_id = $1 AND d.event_sequence = $2 AND d.state <> 'pending'
              AND ($3 = '' OR d.endpoint_id = $3)
              AND e.merchant_id = d.merchant_id AND e.id = d.endpoint_id AND NOT e.deleted
            RETURNING d.id
            """,
            merchant_id,
            event_sequence,
            endpoint_id,
        )
        rows = await connection.fetch(
            f"{_DELIVERY_SELECT} WHERE d.id = ANY($1) ORDER BY d.id", [r["id"] for r in again]
        )
        return await _with_history(connection, rows)

    # --- the relay --------------------------------------------------------------

    async def lease_due(
        self, capacity: int, endpoint_limit: int, lease_s: float
    ) -> list[LeasedDelivery]:
        """Lease up to ``capacity`` due deliveries, ``endpoint_limit`` in flight per endpoint.

        Two statements in one transaction. The first locks the endpoints that
        have due work, earliest due first, ``SKIP LOCKED``: a concurrent worker
        takes other endpoints instead of waiting, and two workers never count
        and lease for the same endpoint at once. The second, with a snapshot
        taken after those locks (so it sees every lease committed before),
        takes from each endpoint only as many as its limit leaves free. Each
        endpoint is limited on its own, so one with a large backlog (a slow or
        dead one) cannot fill the batch and delay the others.
        """
        async with self._pool.acquire() as connection, connection.transaction():
            endpoints = await connection.fetch(
                f"""
                SELECT e.merchant_id, e.id FROM webhook_endpoints e
                WHERE e.enabled AND NOT e.deleted AND EXISTS ({_DUE} LIMIT 1)
                ORDER BY ({_DUE.replace("SELECT 1", "SELECT min(d.next_attempt_at)")})
                LIMIT $1
                FOR NO KEY UPDATE SKIP LOCKED
                """,
                capacity,
            )
            if not endpoints:
                return []
            token = uuid.uuid4()
            rows = await connection.fetch(
                f"""
                WITH chosen AS (
                    SELECT x.id FROM unnest($1::text[], $2::text[]) AS e(merchant_id, id)
                    CROSS JOIN LATERAL (
                        {_DUE.replace("SELECT 1", "SELECT d.id, d.next_attempt_at")}
                        ORDER BY d.next_attempt_at, d.id
                        LIMIT GREATEST($3 - (
                            SELECT count(*) FROM webhook_deliveries b
                            WHERE b.merchant_id = e.merchant_id AND b.endpoint_id = e.id
                              AND b.state = 'pending' AND b.lease_until > now()), 0)
                    ) x
                    ORDER BY x.next_attempt_at LIMIT $4
                ), leased AS (
                    UPDATE webhook_deliveries d SET lease_token = $5,
                        lease_until = now() + $6 * interval '1 second',
                        attempts = d.attempts + 1
                    FROM chosen
                    -- Rechecked on the current row if another transaction
                    -- changed it meanwhile (a late outcome, a deletion).
                    WHERE d.id = chosen.id AND d.state = 'pending'
                      AND (d.lease_until IS NULL OR d.lease_until <= now())
                    RETURNING d.id, d.merchant_id, d.endpoint_id, d.event_sequence, d.attempts,
                              d.round_start
                )
                SELECT l.id AS delivery_id, l.attempts, l.round_start, {ENDPOINT_COLUMNS},
                       ev.merchant_id AS ev_merchant_id, ev.sequence, ev.id AS ev_id, ev.type,
                       ev.resource_type, ev.resource_id, ev.refund_id, ev.snapshot,
                       ev.create_time AS ev_create_time
                FROM leased l
                JOIN webhook_endpoints e ON e.merchant_id = l.merchant_id AND e.id = l.endpoint_id
                JOIN events ev ON ev.merchant_id = l.merchant_id AND ev.sequence = l.event_sequence
                ORDER BY l.id
                """,
                [row["merchant_id"] for row in endpoints],
                [row["id"] for row in endpoints],
                endpoint_limit,
                capacity,
                token,
                lease_s,
            )
        leased = []
        for row in rows:
            endpoint = self._endpoints.endpoint_from_row(row)
            if is_sealed(endpoint.secret) or is_sealed(endpoint.previous_secret):
                # A secret that does not open (its vault key is no longer
                # configured) must not stop every other endpoint's deliveries,
                # nor be signed with: this one keeps its lease and is tried
                # again when the lease expires.
                log.error("webhook endpoint %s: signing secret unreadable", endpoint.id)
                continue
            leased.append(
                LeasedDelivery(
                    id=row["delivery_id"],
                    lease_token=str(token),
                    attempt=row["attempts"],
                    round_attempt=row["attempts"] - row["round_start"],
                    endpoint=endpoint,
                    event=event_from_row(
                        {
                            "merchant_id": row["ev_merchant_id"],
                            "sequence": row["sequence"],
                            "id": row["ev_id"],
                            "type": row["type"],
                            "resource_type": row["resource_type"],
                            "resource_id": row["resource_id"],
                            "refund_id": row["refund_id"],
                            "snapshot": row["snapshot"],
                            "create_time": row["ev_create_time"],
                        }
                    ),
                )
            )
        return leased

    async def record_attempt(
        self,
        leased: LeasedDelivery,
        at: datetime,
        outcome: AttemptOutcome,
        retry_in_s: float | None,
    ) -> bool:
        """Record a POST and settle the delivery; False when the lease was lost meanwhile.

        ``retry_in_s`` None with a failed outcome dead-letters the delivery.
        The attempt is recorded either way (it happened); the delivery row
        changes only for the lease's holder, so a worker that outlived its
        lease cannot overwrite what the next holder decided.
        """
        if outcome.ok:
            state = DeliveryState.SUCCEEDED
        elif retry_in_s is None:
            state = DeliveryState.DEAD
        else:
            state = DeliveryState.PENDING
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                """
                INSERT INTO webhook_attempts
                    (delivery_id, attempt, at, status_code, latency_ms, error)
                VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
                """,
                leased.id,
                leased.attempt,
                at,
                outcome.status_code,
                outcome.latency_ms,
                outcome.error,
            )
            status = await connection.execute(
                """
                UPDATE webhook_deliveries SET state = $3,
                    next_attempt_at = now() + COALESCE($4, 0) * interval '1 second',
                    lease_token = NULL, lease_until = NULL, last_status_code = $5,
                    last_error = $6, update_time = now()
                WHERE id = $1 AND lease_token = $2
                """,
                leased.id,
                uuid.UUID(leased.lease_token),
                state.value,
                retry_in_s,
                outcome.status_code,
                outcome.error,
            )
        return bool(status == "UPDATE 1")


_DELIVERY_SELECT = """
    SELECT d.id, d.merchant_id, d.endpoint_id, ev.id AS event_id, ev.type AS event_type,
           d.event_sequence, d.state, d.attempts, d.next_attempt_at, d.last_status_code,
           d.last_error, d.create_time, d.update_time
    FROM webhook_deliveries d
    JOIN events ev ON ev.merchant_id = d.merchant_id AND ev.sequence = d.event_sequence
"""


def _delivery_fields(row: asyncpg.Record) -> dict[str, Any]:
    state = DeliveryState(row["state"])
    return {
        "id": row["id"],
        "merchant_id": row["merchant_id"],
        "endpoint_id": row["endpoint_id"],
        "event_id": row["event_id"],
        "event_type": row["event_type"],
        "event_sequence": row["event_sequence"],
        "state": state,
        "attempts": row["attempts"],
        "next_attempt_at": row["next_attempt_at"] if state is DeliveryState.PENDING else None,
        "last_status_code": row["last_status_code"],
        "last_error": row["last_error"],
        "created_at": row["create_time"],
        "updated_at": row["update_time"],
    }


async def _with_history(
    connection: asyncpg.Connection, rows: Sequence[asyncpg.Record]
) -> list[Delivery]:
    ids = [row["id"] for row in rows]
    history: dict[int, list[DeliveryAttempt]] = {i: [] for i in ids}
    for attempt in await connection.fetch(
        """
        SELECT delivery_id, attempt, at, status_code, latency_ms, error FROM webhook_attempts
        WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt
        """,
        ids,
    ):
        history[attempt["delivery_id"]].append(
            DeliveryAttempt(
                attempt=attempt["attempt"],
                at=attempt["at"],
                status_code=attempt["status_code"],
                latency_ms=attempt["latency_ms"],
                error=attempt["error"],
            )
        )
    return [Delivery(**_delivery_fields(row), history=tuple(history[row["id"]])) for row in rows]
