"""The one way tests serve paycore in this process: ``serve_paycore``.

Every test that needs a server of its own (settings overridden, its own telemetry,
channels with failure behaviour, a clock it controls) opens it here, so a change to
how paycore is wired (``open_services``, ``paycore_server``) is made in one place:

    async with serve_paycore(settings.replace(pg_pool_max=2)) as paycore:
        stub = paycore.stub(payment_service_pb2_grpc.PaymentServiceStub)
        metadata = await merchant_metadata(paycore.services.pool, merchant_id)

The session's shared server is the ``server`` fixture of tests/conftest.py (built by
the same function). ``paycore run`` as a process: tests/runtime/processes.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import grpc

from core.api.server import PaycoreServer
from core.app import Services, open_services, paycore_server
from core.config import Settings
from core.telemetry import Telemetry
from router.channel import Channel

StubT = TypeVar("StubT")


@dataclass
class Serving:
    """A started paycore server, the services behind it and a channel to it."""

    settings: Settings
    services: Services
    server: PaycoreServer
    channel: grpc.aio.Channel
    stopped: bool = False

    async def stop(self, grace_s: float) -> None:
        """Stop the server now (a test of shutdown); the block's end then stops nothing."""
        if not self.stopped:
            self.stopped = True
            await self.server.stop(grace=grace_s)

    @property
    def target(self) -> str:
        """``host:port`` of the server, for clients that open channels of their own."""
        return f"127.0.0.1:{self.server.port}"

    def stub(self, stub_class: Callable[[grpc.aio.Channel], StubT]) -> StubT:
        """A stub of ``stub_class`` (e.g. ``PaymentServiceStub``) on the shared channel."""
        return stub_class(self.channel)


@contextlib.asynccontextmanager
async def serve_paycore(
    settings: Settings,
    *,
    services: Services | None = None,
    telemetry: Telemetry | None = None,
    channels: Sequence[Channel] | None = None,
    clock: Callable[[], datetime] | None = None,
    grace_s: float = 0.5,
) -> AsyncIterator[Serving]:
    """Serve ``settings`` (overridden with ``settings.replace(...)``) until the block ends.

    With ``services`` the server serves those (the caller keeps and closes them);
    otherwise services of its own are opened with ``telemetry``, ``channels`` and
    ``clock`` and closed after the server stopped. Stopping a server closes the event
    notifier of the services it served, so a test that stops its server must not
    share the session's services with other tests. The channel is plaintext: tests of
    a TLS server open their own to ``target`` with the credentials they test.
    """
    own = settings
    opened: Services | None = None
    if services is None:
        options: dict[str, Any] = {"channels": channels}
        if clock is not None:
            options["clock"] = clock
        services = opened = await open_services(own, telemetry, **options)
    try:
        server = paycore_server(own, services, telemetry=telemetry)
        await server.start()
        serving: Serving | None = None
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                serving = Serving(own, services, server, channel)
                yield serving
        finally:
            if serving is None:
                await server.stop(grace=grace_s)
            else:
                await serving.stop(grace_s)
    finally:
        if opened is not None:
            await opened.close()
