"""``POST /callbacks/<channel>``: verify, then settle the attempt a channel notifies about.

Answers, as PSPs expect (they retry anything but a 2xx):

- 401: missing, wrong or stale signature (logged with the channel and why);
- 404: unknown channel, or an attempt paycore never made on it;
- 503: the attempt's own request is still running (no answer recorded yet,
  younger than ``started_grace_s``): the channel retries later, when the
  request has committed its own answer. Settling it now would race the
  request's commit of the same answer;
- 200 ``[accepted]``: verified and applied, or verified and nothing to do.

Applying is idempotent and order-safe (core/service/attempt_resolution.py): the
first definitive answer settles the attempt; the same notification again, a
late "pending" after "succeeded", or an answer contradicting the recorded
outcome change nothing (the contradiction is logged for a person).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from aiohttp import web

from core.domain import clock as wall_clock
from core.service.attempt_resolution import Settled, settle_attempt
from core.storage.status_queries import PostgresStatusQueryStore
from router import Router
from router.channel import BadSignature

log = logging.getLogger(__name__)

ACCEPTED = "[accepted]"


class CallbackIngress:
    """The notification handler (mounted on an HttpEndpoint by the server)."""

    def __init__(
        self,
        *,
        router: Router,
        store: PostgresStatusQueryStore,
        started_grace_s: float,
        clock: Callable[[], datetime] = wall_clock.now,
    ) -> None:
        self._router = router
        self._store = store
        self._started_grace = timedelta(seconds=started_grace_s)
        self._clock = clock

    def install(self, app: web.Application) -> None:
        """Add ``POST /callbacks/{channel}`` to ``app``, and the pages of simulated channels.

        A channel that shows the customer a page of its own (the sandbox
        redirect wallet) has ``install_pages``; a real provider serves its own.
        """
        app.router.add_post("/callbacks/{channel}", self._handle)
        for name in self._router.channel_names:
            install_pages = getattr(self._router.channel(name), "install_pages", None)
            if install_pages is not None:
                install_pages(app)

    def announce(self, host: str, port: int) -> None:
        """Tell in-process simulated channels (the bank, the wallet) where this ingress listens.

        A channel that posts its own notifications has ``set_notify_url``; real
        providers are given the URL in their dashboards instead.
        """
        reachable = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        for name in self._router.channel_names:
            channel = self._router.channel(name)
            set_notify_url = getattr(channel, "set_notify_url", None)
            if set_notify_url is not None:
                set_notify_url(f"http://{reachable}:{port}/callbacks/{name}")
            set_page_url = getattr(channel, "set_page_url", None)
            if set_page_url is not None:
                set_page_url(f"http://{reachable}:{port}")

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["channel"]
        if name not in self._router.channel_names:
            return web.Response(status=404, text="unknown channel")
        body = await request.read()
        try:
            notification = self._router.channel(name).parse_callback(request.headers, body)
        except BadSignature as exc:
            log.warning("callback refused: channel=%s peer=%s reason=%s", name, request.remote, exc)
            return web.Response(status=401, text="bad signature")
        found = await self._store.find_attempt(name, notification.attempt_id)
        if found is None:
            log.warning("callback for unknown attempt %s on %s", notification.attempt_id, name)
            return web.Response(status=404, text="unknown attempt")
        attempt, recorded = found.attempt, found.outcome
        now = self._clock()
        if recorded == "started" and now - found.created_at < self._started_grace:
            return web.Response(status=503, text="attempt in progress, retry later")
        result = notification.result
        async with self._store.settlement() as tx:
            settled = await settle_attempt(tx, attempt, result, now)
        if (
            settled is Settled.ALREADY_SETTLED
            and result.outcome.is_final
            and result.outcome.value != recorded
        ):
            log.error(
                "callback %s says %s for attempt %s on %s, recorded %s: left unchanged, check it",
                notification.event_id,
                result.outcome.value,
                attempt.id,
                name,
                recorded,
            )
        return web.Response(text=ACCEPTED)
