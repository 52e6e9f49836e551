"""Live wake-ups for event streams: one LISTEN connection per process (asyncpg).

Why LISTEN/NOTIFY rather than polling alone: the outbox NOTIFYs in the
event's own transaction, and PostgreSQL delivers a notification only when
that transaction commits, so a stream wakes within milliseconds of a commit
at the cost of one idle connection per process (instead of a query per open
stream every poll interval). Correctness never depends on it: a stream always
reads ``sequence > cursor`` from the table, so a lost notification (the
listening connection dropped and is being reopened) costs latency only:
streams also re-read every ``fallback_poll_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from core.storage.events import EVENTS_CHANNEL

log = logging.getLogger(__name__)


class EventNotifier:
    """Wakes a merchant's streams when its events commit."""

    def __init__(self, dsn: str, fallback_poll_s: float = 5.0) -> None:
        self._dsn = dsn
        self.fallback_poll_s = fallback_poll_s
        self._connection: asyncpg.Connection | None = None
        self._opening = asyncio.Lock()
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        """True after ``close()``: streams should end (their callers reconnect)."""
        return self._closed

    async def _ensure_listening(self) -> None:
        if self._closed or (self._connection is not None and not self._connection.is_closed()):
            return
        async with self._opening:
            if self._connection is not None and not self._connection.is_closed():
                return
            try:
                connection = await asyncpg.connect(self._dsn)
                await connection.add_listener(EVENTS_CHANNEL, self._notified)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                # Streams keep working on the fallback poll; retried on next wait.
                log.warning(
                    "event stream: cannot LISTEN; polling every %.1fs", self.fallback_poll_s
                )
                return
            self._connection = connection
            # Anything committed while no one was listening: wake everyone once.
            self._wake_all()

    def _notified(self, connection: Any, pid: int, channel: str, merchant_id: str) -> None:
        for waiter in self._waiters.get(merchant_id, ()):
            waiter.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.set()

    @contextlib.asynccontextmanager
    async def subscribe(self, merchant_id: str) -> AsyncIterator[asyncio.Event]:
        """An Event set whenever the merchant's events commit (clear it before each read)."""
        waiter = asyncio.Event()
        self._waiters.setdefault(merchant_id, set()).add(waiter)
        try:
            await self._ensure_listening()
            yield waiter
        finally:
            waiters = self._waiters.get(merchant_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[merchant_id]

    async def wait(self, waiter: asyncio.Event) -> None:
        """Until ``waiter`` is set, the fallback poll interval passes, or the notifier closes."""
        await self._ensure_listening()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.wait(), self.fallback_poll_s)

    async def close(self) -> None:
        """Stop listening and wake every stream so it ends."""
        self._closed = True
        self._wake_all()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None
