"""Relay workers: POST leased webhook deliveries to merchants' endpoints (aiohttp).

One ``WebhookRelay`` per server process. Its loop leases due deliveries from
PostgreSQL (core/storage/webhook_deliveries.py: SKIP LOCKED, so any number of processes
share the work without double-sending in the normal case) and sends each in
its own task:

- a slow or dead endpoint holds at most ``endpoint_concurrency`` leases (the
  limit is enforced in the database, across processes) and each POST is cut
  off after ``timeout_s``, so it never delays other endpoints' deliveries;
- a failed POST (no answer, or not 2xx) is retried after the next delay of the
  schedule; after the last one the delivery is dead-lettered;
- if this process dies mid-POST, the lease expires and another worker sends
  again (at least once; receivers deduplicate by ``Paycore-Event-Id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp

from core.domain.notifications import LeasedDelivery
from core.events.egress import PublicOnlyResolver, check_literal_host
from core.events.schedule import retry_delay
from core.events.signing import signature_header
from core.events.snapshot import webhook_body
from core.storage.webhook_deliveries import AttemptOutcome, PostgresWebhookDeliveries
from core.telemetry import Telemetry
from paycore.client.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER

log = logging.getLogger(__name__)

_ERROR_CHARS = 500
"""Attempt errors are kept short: they are for people reading ListWebhookDeliveries."""


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """How a relay worker delivers (from the ``webhook_*`` settings)."""

    schedule_s: Sequence[float]
    """Delays between attempts; len + 1 attempts in all."""
    timeout_s: float = 10.0
    """Per POST, connect to last byte."""
    endpoint_concurrency: int = 4
    """Deliveries in flight per endpoint, across all workers."""
    max_in_flight: int = 64
    """Deliveries in flight in this worker."""
    poll_interval_s: float = 1.0
    """How often an idle worker looks for due deliveries."""
    allow_private_networks: bool = False
    """POST to loopback and private addresses too (development and tests only)."""

    @property
    def lease_s(self) -> float:
        """A lease outlives a POST comfortably, and expires soon after a crash."""
        return 2 * self.timeout_s + 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookRelay:
    """Leases due deliveries and POSTs them; ``start()`` runs it, ``stop()`` ends it."""

    def __init__(
        self,
        store: PostgresWebhookDeliveries,
        settings: RelaySettings,
        *,
        clock: Callable[[], datetime] = _utcnow,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._telemetry = telemetry or Telemetry.disabled()
        self._sends: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Start the lease-and-send loop in the background."""
        if self._loop_task is not None:
            return
        guarded = not self._settings.allow_private_networks
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
            headers={"User-Agent": "paycore-webhooks/1"},
            # Merchants choose the URLs: only public addresses, checked when
            # each connection is made (see core/events/egress.py).
            connector=aiohttp.TCPConnector(resolver=PublicOnlyResolver()) if guarded else None,
        )
        self._loop_task = asyncio.create_task(self._run(), name="webhook-relay")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop leasing; give POSTs in flight ``grace_s`` to finish, then cancel them.

        A cancelled POST keeps its lease until it expires; the delivery is then
        sent again by whichever worker runs next (at least once).
        """
        if self._loop_task is not None:
            self._loop_task.cancel()
            await _cancelled_within({self._loop_task}, "lease loop")
            self._loop_task = None
        if self._sends:
            await asyncio.wait(set(self._sends), timeout=grace_s)
        for task in list(self._sends):
            task.cancel()
        if self._sends:
            await _cancelled_within(set(self._sends), "POSTs")
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            try:
                leased = await self.dispatch_due()
            except Exception:
                # PostgreSQL away, most likely: deliveries wait in the table.
                log.exception("webhook relay could not lease deliveries; retrying")
                leased = 0
            free = self._settings.max_in_flight - len(self._sends)
            if leased and free > 0:
                continue  # more may be due right now
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancel that comes as its timeout fires, and a stopped relay then
            # kept leasing (and failing) other tests' deliveries.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_interval_s):
                    await self._wake.wait()

    async def dispatch_due(self) -> int:
        """Lease what is due (within this worker's free capacity) and start sending it."""
        free = self._settings.max_in_flight - len(self._sends)
        if free <= 0:
            return 0
        settings = self._settings
        leased = await self._store.lease_due(free, settings.endpoint_concurrency, settings.lease_s)
        for delivery in leased:
            task = asyncio.create_task(self._deliver(delivery), name=f"webhook-{delivery.id}")
            self._sends.add(task)
            task.add_done_callback(self._send_done)
        return len(leased)

    def _send_done(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        self._wake.set()  # a slot is free: look for more work at once

    async def _deliver(self, delivery: LeasedDelivery) -> None:
        if delivery.attempt == 1:
            lag = self._clock() - delivery.event.created_at
            self._telemetry.outbox_lagged(lag.total_seconds())
        outcome = await self._post(delivery)
        delay = (
            None if outcome.ok else retry_delay(self._settings.schedule_s, delivery.round_attempt)
        )
        result = "delivered" if outcome.ok else "retry" if delay is not None else "dead"
        self._telemetry.webhook_attempted(result, outcome.latency_ms / 1000)
        try:
            kept = await self._store.record_attempt(delivery, self._clock(), outcome, delay)
        except Exception:
            # Not recorded: the lease expires and the delivery is sent again.
            log.exception("could not record webhook delivery %s", delivery.id)
            return
        if not kept:
            log.warning(
                "webhook delivery %s: lease lost before its outcome was stored", delivery.id
            )
        elif delay is None and not outcome.ok:
            log.warning(
                "webhook delivery %s of %s to %s dead-lettered after %d attempts",
                delivery.id,
                delivery.event.id,
                delivery.endpoint.id,
                delivery.attempt,
            )

    async def _post(self, delivery: LeasedDelivery) -> AttemptOutcome:
        assert self._session is not None
        body = webhook_body(delivery.event)
        now = self._clock()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(
                delivery.endpoint.signing_secrets(now), int(now.timestamp()), body
            ),
            EVENT_ID_HEADER: delivery.event.id,
        }
        started = time.perf_counter()
        try:
            if not self._settings.allow_private_networks:
                check_literal_host(urlsplit(delivery.endpoint.url).hostname or "")
            async with self._session.post(
                delivery.endpoint.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                # Read (a little of) the answer so the connection can be reused.
                await response.content.read(1024)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return AttemptOutcome(0, _elapsed_ms(started), _describe(exc))
        error = "" if 200 <= status < 300 else f"HTTP {status}"
        return AttemptOutcome(status, _elapsed_ms(started), error)


_STOP_BOUND_S = 5.0
"""How long stop() waits for cancelled tasks to end before it gives up on them."""


async def _cancelled_within(tasks: set[asyncio.Task[None]], what: str) -> None:
    """Wait (bounded) for cancelled ``tasks`` to end.

    Shutdown must not hang on a task stuck in a library call that ignores
    cancellation for a while (a database call awaiting a lost connection): the
    relay stops anyway, and the leases it held expire for another worker.
    """
    _, pending = await asyncio.wait(tasks, timeout=_STOP_BOUND_S)
    if pending:
        log.error(
            "webhook relay: %d %s still running %.0f s after cancel",
            len(pending),
            what,
            _STOP_BOUND_S,
        )


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = f"{type(exc).__name__}: {exc}"
    return text[:_ERROR_CHARS]
