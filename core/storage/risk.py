"""The risk component's tables in PostgreSQL: block/allow lists and the review queue.

Writes take the request's ``PaymentTransaction`` (the executor's), so a list
change or a review decision commits together with its audit record and its
idempotent reply. Reads use the pool.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import asyncpg

from core.domain.risk_records import ListEntry, ListName, QueuedReview, Review, ReviewStatus
from core.ports.repository import PaymentTransaction
from core.storage.payment_reads import PAYMENT_COLUMNS, payment_from_row
from core.storage.session import connection_of
from core.storage.unavailable import unavailable_as_error
from riskengine import MerchantLists


def _entry(row: asyncpg.Record) -> ListEntry:
    return ListEntry(
        id=row["id"],
        merchant_id=row["merchant_id"],
        list=ListName(row["list"]),
        kind=row["kind"],
        value=row["value"],
        reason=row["reason"],
        created_at=row["create_time"],
    )


def _review(row: Mapping[str, Any]) -> Review:
    return Review(
        merchant_id=row["merchant_id"],
        payment_id=row["payment_id"],
        card_token=row["card_token"],
        status=ReviewStatus(row["status"]),
        note=row["note"],
        created_at=row["create_time"],
        decided_at=row["decide_time"],
    )


_ENTRY_COLUMNS = "merchant_id, id, list, kind, value, reason, create_time"
_REVIEW_COLUMNS = "merchant_id, payment_id, card_token, status, note, create_time, decide_time"


class PostgresRiskStore:
    """Risk lists and reviews over an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # --- lists ----------------------------------------------------------------

    async def add_entry(self, tx: PaymentTransaction, entry: ListEntry) -> ListEntry:
        """Insert ``entry``; an equal entry (same list, kind, value) already there is returned."""
        row = await connection_of(tx).fetchrow(
            f"""
            INSERT INTO risk_list_entries ({_ENTRY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (merchant_id, list, kind, value) DO NOTHING RETURNING {_ENTRY_COLUMNS}
            """,
            entry.merchant_id,
            entry.id,
            entry.list.value,
            entry.kind,
            entry.value,
            entry.reason,
            entry.created_at,
        )
        if row is None:
            row = await connection_of(tx).fetchrow(
                f"""SELECT {_ENTRY_COLUMNS} FROM risk_list_entries
                WHERE merchant_id = $1 AND list = $2 AND kind = $3 AND value = $4""",
                entry.merchant_id,
                entry.list.value,
                entry.kind,
                entry.value,
            )
        return _entry(row)

    async def remove_entry(
        self, tx: PaymentTransaction, merchant_id: str, entry_id: str
    ) -> ListEntry | None:
        """Delete one entry; the deleted entry, or None if there was none."""
        row = await connection_of(tx).fetchrow(
            f"DELETE FROM risk_list_entries WHERE merchant_id = $1 AND id = $2"
            f" RETURNING {_ENTRY_COLUMNS}",
            merchant_id,
            entry_id,
        )
        return None if row is None else _entry(row)

    async def list_entries(self, merchant_id: str, after_id: str, limit: int) -> list[ListEntry]:
        """Up to ``limit`` entries after ``after_id`` (ids are time-ordered ULIDs)."""
        async with unavailable_as_error():
            rows = await self._pool.fetch(
                f"""SELECT {_ENTRY_COLUMNS} FROM risk_list_entries
                WHERE merchant_id = $1 AND id > $2 ORDER BY id LIMIT $3""",
                merchant_id,
                after_id,
                limit,
            )
        return [_entry(row) for row in rows]

    async def merchant_lists(
        self, merchant_id: str, tx: PaymentTransaction | None = None
    ) -> MerchantLists:
        """Every entry of the merchant, as the sets the risk engine matches against.

        Inside a request's transaction pass ``tx``: a second pool connection
        per request could deadlock the pool when every connection is held by a
        request waiting for one more.
        """
        sql = "SELECT list, kind, value FROM risk_list_entries WHERE merchant_id = $1"
        async with unavailable_as_error():
            if tx is not None:
                rows = await connection_of(tx).fetch(sql, merchant_id)
            else:
                rows = await self._pool.fetch(sql, merchant_id)
        sets: dict[str, dict[str, set[str]]] = {
            "block": defaultdict(set),
            "allow": defaultdict(set),
        }
        for row in rows:
            sets[row["list"]][row["kind"]].add(row["value"])
        return MerchantLists(
            blocked={kind: frozenset(v) for kind, v in sets["block"].items()},
            allowed={kind: frozenset(v) for kind, v in sets["allow"].items()},
        )

    # --- reviews --------------------------------------------------------------

    async def insert_review(self, tx: PaymentTransaction, review: Review) -> None:
        """Queue a held payment."""
        await connection_of(tx).execute(
            f"INSERT INTO risk_reviews ({_REVIEW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            review.merchant_id,
            review.payment_id,
            review.card_token,
            review.status.value,
            review.note,
            review.created_at,
            review.decided_at,
        )

    async def lock_review(
        self, tx: PaymentTransaction, merchant_id: str, payment_id: str
    ) -> Review | None:
        """A payment's review, locked until the transaction ends."""
        row = await connection_of(tx).fetchrow(
            f"SELECT {_REVIEW_COLUMNS} FROM risk_reviews"
            " WHERE merchant_id = $1 AND payment_id = $2 FOR UPDATE",
            merchant_id,
            payment_id,
        )
        return None if row is None else _review(row)

    async def save_review(self, tx: PaymentTransaction, review: Review) -> None:
        """Store a review's decision."""
        await connection_of(tx).execute(
            "UPDATE risk_reviews SET status = $3, note = $4, decide_time = $5"
            " WHERE merchant_id = $1 AND payment_id = $2",
            review.merchant_id,
            review.payment_id,
            review.status.value,
            review.note,
            review.decided_at,
        )

    async def pending_reviews(
        self, merchant_id: str, after_payment_id: str, limit: int
    ) -> list[QueuedReview]:
        """Up to ``limit`` pending reviews (oldest payment first) after a payment id."""
        review_columns = ", ".join(
            f"r.{c.strip()} AS r_{c.strip()}" for c in _REVIEW_COLUMNS.split(",")
        )
        async with unavailable_as_error():
            rows = await self._pool.fetch(
                f"""
                SELECT {review_columns}, {PAYMENT_COLUMNS}
                FROM risk_reviews r JOIN payments p
                  ON p.merchant_id = r.merchant_id AND p.id = r.payment_id
                WHERE r.merchant_id = $1 AND r.status = 'pending'
                  AND p.state = 'requires_review' AND r.payment_id > $2
                ORDER BY r.payment_id LIMIT $3
                """,
                merchant_id,
                after_payment_id,
                limit,
            )
        queued = []
        for row in rows:
            # asyncpg Records iterate over values: the names come from keys().
            columns = {n[2:]: row[n] for n in row.keys() if n.startswith("r_")}  # noqa: SIM118
            review = _review(columns)
            queued.append(QueuedReview(review, payment_from_row(row)))
        return queued
