"""The event outbox in PostgreSQL: append a payment change's events, read them back.

Appending happens inside the statement that writes the change (``PaymentOutbox.parts``
is used by ``PostgresPayments.insert`` / ``save``), so an
event exists if and only if its change committed. In the same statement the
event is fanned out to the merchant's subscribed webhook endpoints (one
``webhook_deliveries`` row each). Nothing is NOTIFYed: see core/events/stream.py.

Ordering, and why a stream reader can never skip an event: numbers come from
``event_sequences``, one row per merchant, taken with an UPDATE. The row lock
is held until the transaction ends, so while one transaction of a merchant
holds number n, another wanting n+1 waits for it to commit or roll back.
Numbers therefore become visible strictly in order and without gaps (a
rollback returns its number), and ``sequence > cursor`` is a complete read: no
event with a smaller number can commit after a reader has passed it. (A global
identity column would not do: ids are drawn at insert and commit in any order,
and reading past an in-flight id would lose it for good.) The cost is that
event-producing transactions of *one* merchant serialize from the event insert
to their commit (the last statements and the commit's WAL flush). Different
merchants never wait for each other. Measured (bench/RESULTS.md, "Outbox
overhead"): one merchant's payment writes top out near one commit per WAL
flush. Should a single merchant need more, number events after commit instead
(a sequencer assigning per-merchant numbers to committed events below
``pg_snapshot_xmin``), keeping the same contract for readers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.domain import ids
from core.domain.notifications import StoredEvent
from core.domain.payment import Payment
from core.events.derive import derive_events
from core.ports.repository import PaymentTransaction
from core.storage.session import connection_of
from core.storage.unavailable import unavailable_as_error

EVENT_ID_PREFIX = "evt"

_EVENT_COLUMNS = """
    merchant_id, sequence, id, type, resource_type, resource_id, refund_id, snapshot, create_time
"""


def event_from_row(row: asyncpg.Record) -> StoredEvent:
    """A StoredEvent from a row with ``_EVENT_COLUMNS``."""
    return StoredEvent(
        id=row["id"],
        merchant_id=row["merchant_id"],
        sequence=row["sequence"],
        type=row["type"],
        resource_type=row["resource_type"],
        resource_id=row["resource_id"],
        refund_id=row["refund_id"],
        snapshot=bytes(row["snapshot"]),
        created_at=row["create_time"],
    )


class PaymentOutbox:
    """The events of a payment change, as parts of the statement that writes the change.

    ``PostgresPayments`` puts these parts into the one statement that stores
    the payment row (core/storage/payments.py), so a change and its events
    cost one round trip together and commit together.
    """

    def __init__(self, snapshot: Callable[[Payment], bytes]) -> None:
        self._snapshot = snapshot  # the payment as the API shows it (bytes of the proto)

    def snapshot(self, payment: Payment) -> bytes:
        """What an event keeps of ``payment``: the payment as the API shows it, serialized."""
        return self._snapshot(payment)

    def parts(self, before: Payment | None, after: Payment) -> OutboxParts | None:
        """The CTEs appending the events of ``before`` -> ``after``; None when there are none.

        Numbering upserts the merchant's event_sequences row and so takes (and
        holds until commit) its lock: see the module docstring for why this is
        what keeps cursors gap-free. The deliveries reference events inserted
        by the same statement; foreign keys are checked at its end.
        """
        drafts = derive_events(before, after)
        if not drafts:
            return None
        args = (
            after.merchant_id,
            len(drafts),
            after.updated_at,
            [ids.new_id(EVENT_ID_PREFIX) for _ in drafts],
            [draft.type for draft in drafts],
            [draft.resource_type for draft in drafts],
            [draft.resource_id for draft in drafts],
            [draft.refund_id for draft in drafts],
            [self._snapshot(draft.payment) for draft in drafts],
        )
        return OutboxParts(_OUTBOX_CTES, args)


@dataclass(frozen=True, slots=True)
class OutboxParts:
    """Named CTEs (SQL numbered ``$1``.. over ``args``) that number, append and fan out events.

    Their names start with ``outbox_``; a statement holds at most one outbox.
    """

    ctes: tuple[tuple[str, str], ...]
    args: tuple[Any, ...]


_OUTBOX_CTES: tuple[tuple[str, str], ...] = (
    (
        "outbox_numbered",
        """
        INSERT INTO event_sequences AS s (merchant_id, last_value) VALUES ($1, $2)
        ON CONFLICT (merchant_id) DO UPDATE SET last_value = s.last_value + EXCLUDED.last_value
        RETURNING last_value
        """,
    ),
    (
        "outbox_appended",
        f"""
        INSERT INTO events ({_EVENT_COLUMNS})
        SELECT $1, n.last_value - $2 + d.n, d.id, d.type, d.resource_type,
               d.resource_id, d.refund_id, d.snapshot, $3
        FROM outbox_numbered n, unnest($4::text[], $5::text[], $6::text[], $7::text[],
                                       $8::text[], $9::bytea[])
            WITH ORDINALITY AS d(id, type, resource_type, resource_id, refund_id, snapshot, n)
        RETURNING sequence, type
        """,
    ),
    (
        # An endpoint subscribed when the change commits gets the event,
        # whatever happens to paycore after.
        "outbox_fanned_out",
        """
        INSERT INTO webhook_deliveries (merchant_id, endpoint_id, event_sequence,
                                        next_attempt_at, create_time, update_time)
        SELECT $1, e.id, a.sequence, now(), now(), now()
        FROM webhook_endpoints e, outbox_appended a
        WHERE e.merchant_id = $1 AND e.enabled AND NOT e.deleted
          AND (cardinality(e.event_types) = 0 OR a.type = ANY(e.event_types))
        """,
    ),
)


BATCH_EVENT_CTES: tuple[tuple[str, str], ...] = (
    (
        "event_numbered",
        """
        INSERT INTO event_sequences AS s (merchant_id, last_value)
        SELECT merchant_id, count(*) FROM event_drafts GROUP BY merchant_id ORDER BY merchant_id
        ON CONFLICT (merchant_id) DO UPDATE SET last_value = s.last_value + EXCLUDED.last_value
        RETURNING merchant_id, last_value
        """,
    ),
    (
        "event_appended",
        f"""
        INSERT INTO events ({_EVENT_COLUMNS})
        SELECT d.merchant_id,
               n.last_value - count(*) OVER w + row_number() OVER (w ORDER BY d.n),
               d.id, d.type, d.resource_type, d.resource_id, d.refund_id, d.snapshot,
               d.create_time
        FROM event_drafts d JOIN event_numbered n USING (merchant_id)
        WINDOW w AS (PARTITION BY d.merchant_id)
        RETURNING merchant_id, sequence, type
        """,
    ),
    (
        # As the outbox's: an endpoint subscribed when the batch commits gets the event.
        "event_fanned_out",
        """
        INSERT INTO webhook_deliveries (merchant_id, endpoint_id, event_sequence,
                                        next_attempt_at, create_time, update_time)
        SELECT a.merchant_id, e.id, a.sequence, now(), now(), now()
        FROM event_appended a JOIN webhook_endpoints e ON e.merchant_id = a.merchant_id
        WHERE e.enabled AND NOT e.deleted
          AND (cardinality(e.event_types) = 0 OR a.type = ANY(e.event_types))
        """,
    ),
)
"""The events of many changes, several merchants' (group commit, issue 18), in one statement.

They read a CTE ``event_drafts(merchant_id, payment_id, id, type, resource_type,
resource_id, refund_id, snapshot, create_time, n)`` (rows of ``event_drafts``; ``n``:
the order within the batch) and number each merchant's events with ONE upsert of
its ``event_sequences`` row, merchants in id order: the row lock is held to the
commit as the outbox's is, so numbers still become visible in order and without
gaps.
"""


def event_drafts(
    outbox: PaymentOutbox, before: Payment | None, after: Payment
) -> list[tuple[Any, ...]]:
    """The rows of the CTE ``event_drafts`` (without ``n``) for ``before`` -> ``after``."""
    return [
        (
            after.merchant_id,
            after.id,
            ids.new_id(EVENT_ID_PREFIX),
            draft.type,
            draft.resource_type,
            draft.resource_id,
            draft.refund_id,
            outbox.snapshot(draft.payment),
            after.updated_at,
        )
        for draft in derive_events(before, after)
    ]


async def append_events(
    connection: asyncpg.Connection,
    merchant_id: str,
    at: datetime,
    events: Sequence[tuple[str, str, str, bytes]],
) -> None:
    """Append events that are not a payment's: ``(type, resource_type, resource_id, snapshot)``.

    The outbox's own statement (numbered, appended, fanned out to the endpoints),
    so they share its ordering guarantee; used for subscriptions and invoices.
    """
    if not events:
        return
    types = [event[0] for event in events]
    resource_types = [event[1] for event in events]
    resource_ids = [event[2] for event in events]
    snapshots = [event[3] for event in events]
    await connection.execute(
        f"WITH {ctes_text(_OUTBOX_CTES)} SELECT 1",
        merchant_id,
        len(events),
        at,
        [ids.new_id(EVENT_ID_PREFIX) for _ in events],
        types,
        resource_types,
        resource_ids,
        [""] * len(events),
        snapshots,
    )


def ctes_text(ctes: Sequence[tuple[str, str]]) -> str:
    """``ctes`` as the text of a WITH list (for statements written out whole)."""
    return ", ".join(f"{name} AS ({sql})" for name, sql in ctes)


class PostgresEventStore:
    """Reads of committed events, always scoped to one merchant."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def events_after(
        self, merchant_id: str, after_sequence: int, types: Sequence[str], limit: int
    ) -> list[StoredEvent]:
        """Up to ``limit`` events after ``after_sequence``, of ``types`` (all if empty)."""
        rows = await self._pool.fetch(
            f"""
            SELECT {_EVENT_COLUMNS} FROM events
            WHERE merchant_id = $1 AND sequence > $2
              AND (cardinality($3::text[]) = 0 OR type = ANY($3::text[]))
            ORDER BY sequence LIMIT $4
            """,
            merchant_id,
            after_sequence,
            list(types),
            limit,
        )
        return [event_from_row(row) for row in rows]

    async def get_event(
        self, merchant_id: str, event_id: str, tx: PaymentTransaction | None = None
    ) -> StoredEvent | None:
        """One event of the merchant by id.

        Inside a transaction pass it (``tx``): a second pooled connection taken
        while the transaction holds one can deadlock the pool.
        """
        row = await (self._pool if tx is None else connection_of(tx)).fetchrow(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE merchant_id = $1 AND id = $2",
            merchant_id,
            event_id,
        )
        return None if row is None else event_from_row(row)

    async def last_sequences(self, merchant_ids: Sequence[str]) -> dict[str, int]:
        """The latest committed sequence number of each merchant that has events."""
        rows = await self._pool.fetch(
            "SELECT merchant_id, last_value FROM event_sequences WHERE merchant_id = ANY($1)",
            list(merchant_ids),
        )
        return {row["merchant_id"]: row["last_value"] for row in rows}
