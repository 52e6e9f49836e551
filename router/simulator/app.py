"""The channel simulator's HTTP server (aiohttp): a SimulatedAcquirer behind a real socket.

Every request must carry a valid ``X-Signature`` (router/signing.py) under the
shared secret, or it is refused with 401 before anything is processed. The
acquirer's amount triggers become socket behaviour: a hang is a request that
never gets an answer, a reset closes the connection without one, "not
processed" is a 503. ``HttpFaults`` adds random 5xx answers (after
processing, so they are ambiguous) on top.

With a ``notify_url``, the simulator also posts a signed notification of
every authorization it processed (retrying until paycore answers 2xx), as
a PSP's webhooks would: this is how a payment whose answer was lost can be
settled before any status query. A capture of a sandbox dispute card
(router/channels/sandbox.py) is disputed ``dispute_after_s`` later: a signed
dispute notification to ``<notify_url>/disputes``; evidence posted to
``/v1/dispute_evidence`` decides it ``dispute_after_s`` later: won when a text
contains ``winning_evidence``, lost otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.commands import CardInput
from core.domain.disputes import ChannelVerdict, DisputeKind, DisputeNotice
from core.telemetry.http import HttpEndpoint
from router.channel import BadSignature, ChannelNotProcessed
from router.channels.acquirer_wire import (
    attempt_from_wire,
    dispute_notice_to_wire,
    evidence_from_wire,
    notification_to_wire,
    result_to_wire,
)
from router.channels.notify import post_until_accepted
from router.channels.sandbox import dispute_of
from router.channels.simulated import SimulatedAcquirer
from router.signing import sign, verify

log = logging.getLogger(__name__)

_OPERATIONS = {op.value for op in ChannelOperation} | {"query", "dispute_evidence"}
WINNING_EVIDENCE = "winning_evidence"
"""Evidence text that wins a sandbox dispute (as in Stripe's test mode); any other loses."""


@dataclass(frozen=True, slots=True)
class HttpFaults:
    """Socket-level failure injection of the simulator."""

    error_5xx_rate: float = 0.0
    """Share of requests answered 500 after processing (the caller cannot tell)."""
    seed: int = 0


class ChannelSimulator:
    """The simulator: an acquirer, its secret, its faults and where it sends notifications."""

    def __init__(
        self,
        acquirer: SimulatedAcquirer,
        secret: bytes,
        *,
        faults: HttpFaults | None = None,
        notify_url: str = "",
        tolerance_s: float = 300.0,
        dispute_after_s: float = 5.0,
    ) -> None:
        self.acquirer = acquirer
        self._secret = secret
        self._faults = faults or HttpFaults()
        self._random = random.Random(self._faults.seed)
        self.notify_url = notify_url
        self._tolerance_s = tolerance_s
        self._notifications: set[asyncio.Task[None]] = set()
        self.notifications_delivered = 0
        self.dispute_after_s = dispute_after_s
        self.disputes_delivered = 0
        self._disputes: dict[str, DisputeNotice] = {}
        """The disputes this simulator opened, by its reference (evidence decides them)."""

    def install(self, app: web.Application) -> None:
        """Add the simulator's routes to ``app``."""
        app.router.add_post("/v1/{operation}", self._handle)
        app.on_cleanup.append(self._cancel_notifications)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        operation = request.match_info["operation"]
        if operation not in _OPERATIONS:
            raise web.HTTPNotFound()
        body = await request.read()
        try:
            verify(self._secret, request.headers, body, time.time(), self._tolerance_s)
        except BadSignature as exc:
            log.warning("simulator refused a request: %s", exc)
            return web.json_response({"error": "bad_signature"}, status=401)
        if operation == "dispute_evidence":
            return self._answer_evidence(json.loads(body))
        attempt, card = attempt_from_wire(json.loads(body), self.acquirer.name)
        if operation == "query":
            return web.json_response(result_to_wire(await self.acquirer.query(attempt)))
        try:
            result = await self._operate(attempt.operation, attempt, card)
        except ChannelNotProcessed:
            return web.json_response({"error": "not_processed", "not_processed": True}, status=503)
        except ConnectionResetError:
            # Processed (or not) and the connection dies without an answer.
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPInternalServerError() from None
        if attempt.operation is ChannelOperation.AUTHORIZE and self.notify_url:
            self._notify(attempt.id, result)
        if self.notify_url:
            self._dispute_later(attempt, result)
        if self._faults.error_5xx_rate and self._random.random() < self._faults.error_5xx_rate:
            return web.json_response({"error": "internal"}, status=500)
        return web.json_response(result_to_wire(result))

    async def _operate(
        self, operation: ChannelOperation, attempt: Attempt, card: CardInput | None
    ) -> ChannelResult:
        acquirer = self.acquirer
        if operation is ChannelOperation.AUTHORIZE:
            if card is None:
                raise web.HTTPBadRequest(text="authorize needs a card")
            return await acquirer.authorize(attempt, card)
        if operation is ChannelOperation.CAPTURE:
            return await acquirer.capture(attempt)
        if operation is ChannelOperation.VOID:
            return await acquirer.void(attempt)
        return await acquirer.refund(attempt)

    def _notify(self, attempt_id: str, result: ChannelResult) -> None:
        if not result.outcome.is_final:
            return
        task = asyncio.create_task(self._deliver(attempt_id, result))
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)

    async def _deliver(self, attempt_id: str, result: ChannelResult) -> None:
        """Post the notification until paycore acknowledges it with a 2xx."""
        body = json.dumps(notification_to_wire(f"ev_{attempt_id}", attempt_id, result)).encode()
        secret = self._secret
        if await post_until_accepted(
            self.notify_url, body, lambda data, at: sign(secret, data, at)
        ):
            self.notifications_delivered += 1

    def _dispute_later(self, attempt: Attempt, result: ChannelResult) -> None:
        """Dispute a captured sandbox dispute card ``dispute_after_s`` from now."""
        captured = attempt.operation is ChannelOperation.CAPTURE or (
            attempt.operation is ChannelOperation.AUTHORIZE and attempt.capture
        )
        if not captured or result.outcome is not AttemptOutcome.SUCCEEDED:
            return
        reference = result.reference or attempt.channel_reference
        dispute = dispute_of(reference)
        if dispute is None:
            return
        kind, reason = dispute
        notice = DisputeNotice(
            event_id=f"evd_{attempt.id}",
            attempt_id=attempt.id,
            reference=f"dp_{attempt.id.removeprefix('att_')}",
            kind=DisputeKind(kind),
            verdict=ChannelVerdict.OPENED,
            amount=attempt.amount,
            reason=reason,
            evidence_due_at=datetime.now(UTC) + timedelta(days=7),
        )
        self._disputes[notice.reference] = notice
        self._send_dispute(notice)

    def _answer_evidence(self, body: dict[str, Any]) -> web.Response:
        """Decide a dispute on its evidence, later (a 404 for a dispute it never opened)."""
        reference, evidence = evidence_from_wire(body)
        opened = self._disputes.get(reference)
        if opened is None:
            return web.json_response({"error": "unknown_dispute"}, status=404)
        wins = any(WINNING_EVIDENCE in text for _, text in evidence.texts)
        verdict = ChannelVerdict.WON if wins else ChannelVerdict.LOST
        event_id = f"{opened.event_id}_{verdict.value}"
        self._send_dispute(dataclasses.replace(opened, verdict=verdict, event_id=event_id))
        return web.json_response({"received": True})

    def _send_dispute(self, notice: DisputeNotice) -> None:
        task = asyncio.create_task(self._deliver_dispute(notice))
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)

    async def _deliver_dispute(self, notice: DisputeNotice) -> None:
        await asyncio.sleep(self.dispute_after_s)
        body = json.dumps(dispute_notice_to_wire(notice)).encode()
        secret = self._secret
        if await post_until_accepted(
            f"{self.notify_url}/disputes", body, lambda data, at: sign(secret, data, at)
        ):
            self.disputes_delivered += 1

    async def _cancel_notifications(self, app: web.Application) -> None:
        for task in list(self._notifications):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def start_simulator(
    simulator: ChannelSimulator, host: str = "127.0.0.1", port: int = 0
) -> HttpEndpoint:
    """Serve ``simulator`` on ``host:port`` (0: a free port); ``stop()`` the endpoint to end it."""
    endpoint = HttpEndpoint(host, port)
    simulator.install(endpoint.app)
    await endpoint.start()
    return endpoint


async def serve_simulator(
    simulator: ChannelSimulator, host: str, port: int, ready: Callable[[int], None] | None = None
) -> None:
    """Serve until SIGTERM or SIGINT (the ``paycore simulator`` command)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    endpoint = await start_simulator(simulator, host, port)
    log.info("channel simulator %s on %s:%d", simulator.acquirer.name, host, endpoint.port)
    if ready is not None:
        ready(endpoint.port)
    try:
        await stop.wait()
    finally:
        await endpoint.stop()
