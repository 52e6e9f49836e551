"""Live wake-ups for event streams: one short poll per process, not LISTEN/NOTIFY.

Why polling: a NOTIFY in the event's transaction would wake streams at
commit, but PostgreSQL serializes the commits of every transaction that
NOTIFYs (one lock on the notification queue for the whole database); measured
on the payment write path (bench/outbox_overhead.py) that cost more than all
of the rest of the outbox together. Instead each process runs one query every
``poll_s`` for the merchants it has open streams for, reading their committed
``event_sequences.last_value`` (primary key lookups), and wakes the streams of
any merchant whose value moved. The write path pays nothing, the database
sees one cheap query per process per interval however many streams are open,
and a live event reaches its streams within about ``poll_s``.

Correctness never depends on a wake-up: a stream always reads
``sequence > cursor`` from the events table (see EventStreams.stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg

from core.storage.events import PostgresEventStore

log = logging.getLogger(__name__)


class EventNotifier:
    """Wakes a merchant's streams when its latest event number moves."""

    def __init__(self, events: PostgresEventStore, poll_s: float = 0.2) -> None:
        self._events = events
        self.poll_s = poll_s
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._seen: dict[str, int] = {}
        self._poller: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """True after ``close()``: streams should end (their callers reconnect)."""
        return self._closed

    @contextlib.asynccontextmanager
    async def subscribe(self, merchant_id: str) -> AsyncIterator[asyncio.Event]:
        """An Event set when the merchant's events may have moved (clear it before each read)."""
        waiter = asyncio.Event()
        self._waiters.setdefault(merchant_id, set()).add(waiter)
        if self._poller is None and not self._closed:
            self._poller = asyncio.create_task(self._poll(), name="event-stream-poller")
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(merchant_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[merchant_id]
                    self._seen.pop(merchant_id, None)

    async def _poll(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.poll_s)
            merchants = list(self._waiters)
            if not merchants:
                continue
            try:
                latest = await self._events.last_sequences(merchants)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                # Streams wait a little longer; the next poll tries again.
                log.warning("event stream poll failed; retrying", exc_info=True)
                continue
            for merchant_id, value in latest.items():
                if self._seen.get(merchant_id) != value:
                    self._seen[merchant_id] = value
                    for waiter in self._waiters.get(merchant_id, ()):
                        waiter.set()

    async def close(self) -> None:
        """Stop polling and wake every stream so it ends."""
        self._closed = True
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.set()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
