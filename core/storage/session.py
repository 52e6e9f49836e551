"""One transaction's connection and the writes waiting to ride with its next statement.

Round trips: each statement costs one, and on the request path they are most
of paycore's work, so writes are folded together (``Statement``). Writes whose
result nobody reads (channel attempts, the request_id's record) wait here
(``Session.write``) and ride along, as CTEs, with the transaction's next
statement that takes them (``Session.carried``), or with one last statement
just before COMMIT (``Session.flush``). Data-modifying CTEs all run, exactly
once, whatever the statement carrying them reads; they see the statement's
snapshot, so a write is only carried by a statement that does not read its
table, and two writes of one table never share a statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from core.storage.statement import Statement


@dataclass(frozen=True, slots=True)
class _Write:
    """A write whose result nobody reads: named CTEs over ``args`` (numbered ``$1``..)."""

    table: str
    ctes: tuple[tuple[str, str], ...]
    args: tuple[Any, ...]


class Session:
    """A transaction's asyncpg connection, shared by its per-aggregate repositories."""

    __slots__ = ("_defer", "_pending", "connection")

    def __init__(self, connection: asyncpg.Connection, *, defer_writes: bool = False) -> None:
        self.connection = connection
        self._defer = defer_writes
        self._pending: list[_Write] = []
        """Writes waiting for this transaction's next statement (see the module docstring).

        Only attempts and request records wait: no component reading through
        ``connection`` reads those tables or references them, so it cannot tell.
        """

    def carried(self, reads: frozenset[str]) -> Statement:
        """A statement carrying the pending writes (taken off the queue); none on ``reads``."""
        statement = Statement()
        kept = []
        for write in self._pending:
            if write.table in reads:
                kept.append(write)
            else:
                statement.add(write.ctes, write.args)
        self._pending = kept
        return statement

    async def write(self, table: str, sql: str, *args: Any) -> None:
        """Run a write whose result nobody reads now, or keep it for the next statement."""
        if not self._defer:
            await self.connection.execute(sql, *args)
            return
        if any(write.table == table for write in self._pending):
            await self.flush()  # one statement never writes a table twice
        name = f"pending_{table}"
        self._pending.append(_Write(table, ((name, sql),), args))

    async def flush(self) -> None:
        """Run the pending writes now (in one statement); the transaction's last step."""
        if self._pending:
            sql, args = self.carried(frozenset()).build("SELECT 1")
            await self.connection.execute(sql, *args)


def connection_of(tx: object) -> asyncpg.Connection:
    """The PostgreSQL connection of a request's transaction, for a store writing on it.

    Rows written this way commit (or roll back) with the request's idempotency record.
    Only a PostgreSQL transaction (core/storage/unit_of_work.py) has one.
    """
    connection = getattr(tx, "connection", None)
    if connection is None:
        raise TypeError("PostgreSQL storage needs a PostgreSQL transaction")
    return connection
