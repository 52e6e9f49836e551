"""paycore's PostgreSQL connection pool: asyncpg's pool, with every checkout bounded.

Two rules keep a pool of N connections from hanging a worker:

- **A checkout waits at most ``acquire_timeout_s``.** An exhausted pool then
  raises ``PoolExhaustedError`` (a ``TimeoutError``), which every store turns
  into SERVICE_UNAVAILABLE with RetryInfo (core/storage/unavailable.py): the
  caller retries with the same request_id instead of queueing for ever.
- **A task that holds a connection never asks for a second one.** With N such
  tasks each holding one and waiting for another, no connection is ever given
  back: every request of the worker hangs (issue 16: token payments read the
  vault on a second connection inside their transaction). Inside a transaction,
  read through the transaction's own connection (``PaymentTransaction``), or
  read before the transaction begins. ``refuse_nested`` turns the rule into a
  check: such a checkout raises ``NestedAcquireError`` at once, so the test
  suite (which turns it on) fails on the code path instead of a deadlock
  under load. Off, it costs nothing.

The check is per task: a task is what holds a connection across its awaits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Generator
from types import TracebackType
from typing import Any

import asyncpg
from asyncpg.pool import PoolAcquireContext

log = logging.getLogger(__name__)


class PoolExhaustedError(TimeoutError):
    """No connection was free within the pool's acquire timeout (retrying later is safe)."""


class NestedAcquireError(RuntimeError):
    """A task holding a pooled connection asked for another one: a deadlock in waiting."""


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to reset when a connection goes back to the pool.

    asyncpg's default reset is one more round trip per checkout (advisory
    unlock, CLOSE ALL, UNLISTEN, RESET ALL). paycore leaves no session state on
    pooled connections: no SET, LISTEN, cursors outside a transaction or
    session advisory locks (migrations take theirs on a connection of their
    own). asyncpg still rolls back a transaction left open before this runs.
    """


class PaycorePool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no type hints
    """An asyncpg pool whose checkouts are bounded and, optionally, never nested.

    Every way of using the pool goes through ``acquire`` (``pool.fetch`` and
    friends check a connection out the same way), so both rules cover them too.
    """

    def __init__(
        self, *args: Any, acquire_timeout_s: float, refuse_nested: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout_s = acquire_timeout_s
        self.refuse_nested = refuse_nested
        self.nested_acquires: list[str] = []
        """Where each refused checkout was asked for (tests assert it stays empty)."""
        self._held: dict[asyncio.Task[Any], int] = {}
        self._holder_of: dict[int, asyncio.Task[Any]] = {}  # id(connection proxy) -> task

    def acquire(self, *, timeout: float | None = None) -> _Checkout:
        """A connection, within ``timeout`` (default: the pool's acquire timeout)."""
        task = asyncio.current_task() if self.refuse_nested else None
        if task is not None and self._held.get(task):
            where = "".join(traceback.format_stack(limit=12)[:-1])
            self.nested_acquires.append(where)
            log.error("task %s holds a connection and asks for another:\n%s", task, where)
            raise NestedAcquireError(
                "this task already holds a pooled connection: read through it "
                "(the transaction's connection) or before taking it"
            )
        limit = self.acquire_timeout_s if timeout is None else timeout
        # The limit is applied by _Checkout, not by asyncpg: asyncpg's timeout is
        # asyncio.wait_for, which on Python 3.11 can swallow a cancellation that
        # arrives as the connection comes (a stopped relay then kept leasing).
        return _Checkout(self, super().acquire(), task, limit)

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:  # noqa: ASYNC109 (asyncpg's signature)
        """Give ``connection`` back (what leaving ``async with pool.acquire()`` does)."""
        task = self._holder_of.pop(id(connection), None)
        if task is not None:
            left = self._held[task] - 1
            if left:
                self._held[task] = left
            else:
                del self._held[task]
        await super().release(connection, timeout=timeout)

    def _note_holder(self, connection: Any, task: asyncio.Task[Any] | None) -> None:
        if task is not None:
            self._holder_of[id(connection)] = task
            self._held[task] = self._held.get(task, 0) + 1


class _Checkout:
    """``pool.acquire()``: usable as ``async with`` or awaited, like asyncpg's own."""

    __slots__ = ("_inner", "_limit", "_pool", "_task")

    def __init__(
        self,
        pool: PaycorePool,
        inner: PoolAcquireContext,
        task: asyncio.Task[Any] | None,
        limit: float,
    ) -> None:
        self._pool = pool
        self._inner = inner
        self._task = task
        self._limit = limit

    async def __aenter__(self) -> asyncpg.Connection:
        deadline = asyncio.timeout(self._limit)
        try:
            async with deadline:
                connection = await self._inner.__aenter__()
        except TimeoutError as exc:
            if deadline.expired():  # not, say, a new connection's own connect timeout
                raise self._exhausted() from exc
            raise
        self._pool._note_holder(connection, self._task)
        return connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)  # releases through PaycorePool.release

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        return self.__aenter__().__await__()

    def _exhausted(self) -> PoolExhaustedError:
        return PoolExhaustedError(
            f"no PostgreSQL connection free within {self._limit:g} s"
            f" (a pool of {self._pool.get_max_size()})"
        )


async def create_pool(
    dsn: str,
    min_size: int,
    max_size: int,
    *,
    acquire_timeout_s: float,
    refuse_nested: bool = False,
) -> PaycorePool:
    """A started pool whose connections decode jsonb to Python values.

    The arguments are asyncpg's ``create_pool`` defaults otherwise (asyncpg
    offers no other way to start a pool of a subclass).
    """
    pool = PaycorePool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=_init_connection,
        reset=_keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        acquire_timeout_s=acquire_timeout_s,
        refuse_nested=refuse_nested,
    )
    await pool
    return pool


async def close_pool(pool: asyncpg.Pool, within_s: float) -> None:
    """Close ``pool`` gracefully, or terminate its connections after ``within_s`` seconds.

    asyncpg's ``close`` waits for every connection to come back, for ever. At
    shutdown, after the drain, a connection still out belongs to a request
    stuck past its grace: cutting it makes PostgreSQL roll its transaction
    back (nothing of it committed, so the caller's retry is safe; a channel
    call already recorded is settled by the status queries, as after a crash).
    """
    try:
        async with asyncio.timeout(within_s):
            await pool.close()
    except TimeoutError:
        # close() terminates every connection when it is cancelled.
        log.warning("connections still in use %.1f s after the drain; cut them", within_s)
