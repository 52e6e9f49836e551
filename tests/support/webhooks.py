"""A merchant's webhook endpoint for tests: a real HTTP ``Receiver``, and registering it.

``Receiver`` is an aiohttp server on loopback that records every POST (and may answer
slowly, fail, or go away); ``create_endpoint`` registers a URL through the
WebhookService; ``FAST`` is a relay retry schedule of seconds instead of a day.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web

from core.events.relay import RelaySettings
from paycore.v1 import webhook_service_pb2
from tests.support.auth import Metadata
from tests.support.requests import new_request_id


@dataclass
class Received:
    """One POST the receiver got."""

    event_id: str
    signature: str
    body: bytes
    status: int


@dataclass
class Receiver:
    """A merchant's webhook endpoint: a real aiohttp server on loopback.

    ``status`` is what it answers; ``hold`` (when set) makes it wait until
    released before answering (a slow endpoint); ``stop()`` and ``start()``
    take it off the network and back on the same port (an outage).
    """

    status: int = 200
    hold: asyncio.Event | None = None
    received: list[Received] = field(default_factory=list)
    port: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The endpoint URL to register."""
        return f"http://127.0.0.1:{self.port}/hooks"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
        finally:
            self.in_flight -= 1
        self.received.append(
            Received(
                request.headers.get("Paycore-Event-Id", ""),
                request.headers.get("Paycore-Signature", ""),
                body,
                self.status,
            )
        )
        return web.Response(status=self.status, text="ok")

    async def start(self) -> None:
        """Listen (again) on ``port`` (any free port the first time)."""
        app = web.Application()
        app.router.add_post("/hooks", self._handle)
        # A short shutdown: a test's receiver never waits a minute for a held request.
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            server = cast(asyncio.Server, site._server)
            self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening: connections are refused until ``start()``."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def delivered(self) -> list[str]:
        """Event ids of the POSTs answered 2xx, in arrival order (duplicates kept)."""
        return [r.event_id for r in self.received if 200 <= r.status < 300]


FAST = RelaySettings(
    schedule_s=(0.05, 0.05, 0.1, 0.2, 0.2, 0.3, 0.3, 0.5, 0.5, 0.5),
    timeout_s=2.0,
    endpoint_concurrency=2,
    max_in_flight=16,
    poll_interval_s=0.02,
    allow_private_networks=True,  # the receivers listen on 127.0.0.1
)
"""A retry schedule of about 2.7 s in all (the real one spans a day)."""


async def create_endpoint(
    webhooks: Any,
    metadata: Metadata,
    url: str,
    event_types: list[str] | None = None,
) -> webhook_service_pb2.CreateWebhookEndpointResponse:
    """Register an endpoint; returns the response (with the secret)."""
    return await webhooks.CreateWebhookEndpoint(
        webhook_service_pb2.CreateWebhookEndpointRequest(
            request_id=new_request_id(), url=url, event_types=event_types or []
        ),
        metadata=metadata,
    )
