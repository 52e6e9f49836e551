"""Holding PostgreSQL rows of the server under test, to keep a request in flight.

``payment_row`` and ``idempotency_row`` hold ``SELECT ... FOR UPDATE`` on one
payment or one request_id's record until the ``async with`` block ends; a
request that must write those rows waits meanwhile, one that only reads them
does not. ``still_waiting`` asserts that a call is waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import asyncpg
from google.protobuf.message import Message

from tests.support.answers import rpc_name


class RowLock:
    """Hold ``SELECT ... FOR UPDATE`` on rows of the server's PostgreSQL until closed.

    A request that must write (or lock) those rows waits for the lock; one that
    only reads them does not. Tests use it to see which path a request took
    and to keep a request in flight.
    """

    def __init__(self, db: asyncpg.Pool, query: str, *args: Any) -> None:
        self._db, self._query, self._args = db, query, args
        self._connection: Any = None
        self._transaction: Any = None

    async def __aenter__(self) -> RowLock:
        self._connection = await self._db.acquire()
        self._transaction = self._connection.transaction()
        await self._transaction.start()
        rows = await self._connection.fetch(self._query + " FOR UPDATE", *self._args)
        assert rows, f"nothing to lock: {self._query} {self._args}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._transaction.rollback()
        await self._db.release(self._connection)


def idempotency_row(db: asyncpg.Pool, merchant_id: str, request: Message) -> RowLock:
    """A lock on the PostgreSQL record of one request_id."""
    return RowLock(
        db,
        "SELECT 1 FROM idempotency_keys"
        " WHERE merchant_id = $1 AND operation = $2 AND request_id = $3",
        merchant_id,
        rpc_name(request),
        request.request_id,  # type: ignore[attr-defined]
    )


def payment_row(db: asyncpg.Pool, merchant_id: str, payment_id: str) -> RowLock:
    """A lock on one payment: mutations of it wait until the lock is gone."""
    return RowLock(
        db, "SELECT 1 FROM payments WHERE merchant_id = $1 AND id = $2", merchant_id, payment_id
    )


async def still_waiting(call: Awaitable[Any], for_s: float = 0.4) -> asyncio.Task[Any]:
    """Start ``call``; assert it has not finished after ``for_s``; return its task."""
    task = asyncio.ensure_future(call)
    await asyncio.sleep(for_s)
    assert not task.done(), f"expected the call to wait, it answered {task.result()!r}"
    return task
