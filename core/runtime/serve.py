"""One paycore server process: telemetry, services, the gRPC server, until SIGTERM.

``serve`` is what each worker of ``paycore run`` runs (core/cli.py): it builds the
process's telemetry (core/runtime/telemetry.py) and services (core/app/), serves them
with ``PaycoreServer`` (core/api/server.py; ``paycore_server`` of core/app/_server.py
builds it) and, on SIGTERM or SIGINT, drains within the grace period and closes
everything in order.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from core.app import open_services, paycore_server
from core.config import Settings
from core.runtime.telemetry import build_telemetry

log = logging.getLogger(__name__)


async def serve(
    settings: Settings,
    *,
    reuse_port: bool = False,
    ready: Callable[[int], None] | None = None,
    worker_index: int = 0,
) -> None:
    """Run one server process until SIGTERM or SIGINT, then shut down gracefully.

    The database must be migrated (``paycore run`` does it once before the
    workers start). ``settings.postgres_dsn`` and ``settings.redis_url`` must
    be resolved. Worker ``worker_index`` serves its HTTP port (metrics, health)
    on ``settings.http_port + worker_index``.
    """
    # Handlers first: a signal that arrives while the server starts must still
    # lead to the graceful path below, not to the default (die on the spot).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runtime = build_telemetry(settings, worker_index)
    try:
        await runtime.start_http()
        services = await open_services(settings, telemetry=runtime.telemetry)
        # SIGHUP reloads the risk rules file now (it is also polled for changes).
        loop.add_signal_handler(
            signal.SIGHUP,
            lambda: services.background.append(
                asyncio.ensure_future(services.rules.reload_and_report())
            ),
        )
        try:
            if settings.callbacks_port:  # one ingress port per worker, like the HTTP port
                settings = settings.replace(callbacks_port=settings.callbacks_port + worker_index)
            server = paycore_server(
                settings, services, reuse_port=reuse_port, telemetry=runtime.telemetry
            )
            port = await server.start()
            relay = None
            if settings.webhook_relay and services.notifications is not None:
                relay = services.notifications.relay()
                await relay.start()
            if ready is not None:
                ready(port)
            await stop.wait()
            log.info("shutting down: draining for up to %.1fs", settings.grace_period_s)
            drained_by = loop.time() + settings.grace_period_s
            await server.stop(settings.grace_period_s)
            if relay is not None:
                # POSTs still in flight after the grace keep their leases until
                # they expire; another worker then sends them again.
                await relay.stop(max(0.0, drained_by - loop.time()))
        finally:
            await services.close()
    finally:
        # Last: spans and metrics of the drain are flushed, and /healthz answers until the end.
        await runtime.close()
