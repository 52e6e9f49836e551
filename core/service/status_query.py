"""Active status queries: settling channel attempts that ended unknown, by asking the channel.

A timeout or an ambiguous answer leaves a payment PENDING (or an operation in
flight) with its attempt 'unknown'; a process that died mid-call leaves it
'started'; an asynchronous channel's "answer later" leaves it 'pending' (its
notification normally settles it; a slower schedule covers a lost one).
Nothing ever sends such an attempt again (that could charge twice): this
scheduler asks the channel what happened, on a backoff schedule, and applies
the answer through core.domain.lifecycle::

    lease due attempts (FOR UPDATE SKIP LOCKED, lease_until)   one statement
    query each channel (no transaction held)
    per attempt, one transaction:
        attempt row locked and still unresolved?  no -> someone settled it; done
        answer definitive -> attempt + payment settled
        still not final   -> next query scheduled, or needs_attention when the
                             schedule ran out (a person takes over)

Workers may run this concurrently: leases keep their batches disjoint, and
the locked re-check makes a late duplicate harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from core.domain import clock as wall_clock
from core.domain.attempt import ChannelResult
from core.ports.status_queries import AttemptSettlement, DueAttempt, LeaseTerms, StatusQueryStore
from core.service.attempt_resolution import Settled, settle_attempt
from router import Router

log = logging.getLogger(__name__)


async def poll_rounds(
    stop: asyncio.Event,
    run_once: Callable[[], Awaitable[int]],
    batch_size: int,
    interval_s: float,
    what: str,
) -> None:
    """Run rounds until ``stop`` is set: at once while a round handled a full batch, else
    after ``interval_s``; a failed round is logged and the next one tries again."""
    while not stop.is_set():
        handled = 0
        try:
            handled = await run_once()
        except Exception:
            log.exception("%s round failed; retrying in the next round", what)
        if handled < batch_size:
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: see core/events/relay.py
                async with asyncio.timeout(interval_s):
                    await stop.wait()


class StatusQueryConfig(Protocol):
    """The schedule and limits of status queries (``core.config.StatusQuerySettings``).

    A protocol, so the application does not import the configuration it is wired by.
    """

    @property
    def delays_s(self) -> tuple[float, ...]:
        """Seconds before each query of an attempt that ended unknown (first, then next)."""
        ...

    @property
    def pending_delays_s(self) -> tuple[float, ...]:
        """The same for attempts an asynchronous channel answered "pending"."""
        ...

    @property
    def started_grace_s(self) -> float:
        """How long after it was recorded an attempt with no answer at all is first queried."""
        ...

    @property
    def lease_s(self) -> float:
        """How long a worker holds the attempts it picked."""
        ...

    @property
    def batch_size(self) -> int:
        """Attempts picked per round."""
        ...

    @property
    def poll_interval_s(self) -> float:
        """How often to look for due attempts when the last batch was not full."""
        ...


class StatusQueryScheduler:
    """Polls channels about unresolved attempts (see the module docstring)."""

    def __init__(
        self,
        *,
        store: StatusQueryStore,
        router: Router,
        settings: StatusQueryConfig,
        clock: Callable[[], datetime] = wall_clock.now,
    ) -> None:
        self._store = store
        self._router = router
        self._settings = settings
        self._delays = settings.delays_s
        self._pending_delays = settings.pending_delays_s
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; a failed round is logged and retried next round."""
        settings = self._settings
        await poll_rounds(
            stop, self.run_once, settings.batch_size, settings.poll_interval_s, "status query"
        )

    async def run_once(self) -> int:
        """One round: lease due attempts, query their channels, settle; returns how many."""
        terms = LeaseTerms(
            first_delay_s=self._delays[0],
            pending_first_delay_s=self._pending_delays[0],
            started_grace_s=self._settings.started_grace_s,
            lease_s=self._settings.lease_s,
            batch_size=self._settings.batch_size,
            channels=self._router.channel_names,
        )
        due = await self._store.lease_due(self._clock(), terms)
        results = await asyncio.gather(*(self._router.query(d.attempt) for d in due))
        for item, result in zip(due, results, strict=True):
            await self._settle(item, result)
        return len(due)

    async def _settle(self, due: DueAttempt, result: ChannelResult) -> None:
        now = self._clock()
        async with self._store.settlement() as tx:
            settled = await settle_attempt(tx, due.attempt, result, now)
            if settled is Settled.STILL_UNKNOWN:
                await self._reschedule(tx, due, now)

    async def _reschedule(self, tx: AttemptSettlement, due: DueAttempt, now: datetime) -> None:
        """The channel could not tell: query again later, or give up to a person."""
        attempt = due.attempt
        delays = self._pending_delays if due.outcome == "pending" else self._delays
        following = due.query_count + 1
        if following < len(delays):
            await tx.reschedule_attempt(
                attempt.merchant_id, attempt.id, now + timedelta(seconds=delays[following])
            )
            return
        log.warning(
            "attempt %s on %s still not settled after %d status queries: needs manual attention"
            " (payment %s)",
            attempt.id,
            attempt.channel,
            following,
            attempt.payment_id,
        )
        await tx.reschedule_attempt(attempt.merchant_id, attempt.id, None)
