"""``POST /callbacks/<channel>/disputes``: verify a channel's dispute notification, then apply it.

Answers, as for payment notifications (core/callbacks/ingress.py):

- 401: missing, wrong or stale signature, or a signed body that is not a
  dispute notification (logged with the channel and why);
- 404: unknown channel, a channel that sends no disputes, or a charge
  (attempt) paycore never made on it (logged);
- 200 ``[accepted]``: applied, or nothing to do: a repeat, news of a
  decided dispute, or a dispute of a payment with nothing left to dispute
  (ignored and logged; see core/domain/disputes.py).

Applying is idempotent and order-safe (core/service/disputes.py): the
payment's row lock serializes a payment's notices, a decided dispute stays
decided, and a verdict before the opening opens and decides at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from core.domain import clock as wall_clock
from core.service.disputes import DisputeService, NoticeOutcome
from core.storage.status_queries import PostgresStatusQueryStore
from router import Router
from router.channel import BadSignature, DisputeNotifying

log = logging.getLogger(__name__)

ACCEPTED = "[accepted]"


class DisputeIngress:
    """The dispute notification handler (mounted with the callbacks ingress)."""

    def __init__(
        self,
        *,
        router: Router,
        attempts: PostgresStatusQueryStore,
        disputes: DisputeService,
        clock: Callable[[], datetime] = wall_clock.now,
    ) -> None:
        self._router = router
        self._attempts = attempts
        self._disputes = disputes
        self._clock = clock

    def install(self, app: web.Application) -> None:
        """Add ``POST /callbacks/{channel}/disputes`` to ``app``."""
        app.router.add_post("/callbacks/{channel}/disputes", self._handle)

    def announce(self, host: str, port: int) -> None:
        """Nothing to tell: a channel posts disputes below the URL CallbackIngress announced."""

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["channel"]
        channel = self._router.channel(name) if name in self._router.channel_names else None
        if not isinstance(channel, DisputeNotifying):
            return web.Response(status=404, text="unknown channel, or it sends no disputes")
        body = await request.read()
        try:
            notice = channel.parse_dispute_notice(request.headers, body)
        except BadSignature as exc:
            log.warning(
                "dispute notice refused: channel=%s peer=%s reason=%s", name, request.remote, exc
            )
            return web.Response(status=401, text="bad signature")
        found = await self._attempts.find_attempt(name, notice.attempt_id)
        outcome = NoticeOutcome.UNKNOWN_PAYMENT
        if found is not None:
            attempt = found.attempt
            outcome = await self._disputes.apply_notice(
                name, attempt.merchant_id, attempt.payment_id, notice, self._clock()
            )
        if outcome is NoticeOutcome.UNKNOWN_PAYMENT:
            log.warning(
                "dispute notice %s for unknown charge %s on %s",
                notice.event_id,
                notice.attempt_id,
                name,
            )
            return web.Response(status=404, text="unknown payment")
        return web.Response(text=ACCEPTED)
