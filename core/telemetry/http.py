"""The HTTP port of a paycore process: ``/healthz``, ``/metrics`` and routes other modules add.

One ``aiohttp.web.Application`` per process. Modules that need HTTP (the
Prometheus scrape endpoint here; channel callbacks later) add routes to
``HttpEndpoint.app`` before ``start()``: aiohttp freezes the router when the
server starts.
"""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)


class HttpEndpoint:
    """An aiohttp application served on one host and port until ``stop()``."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        """The port asked for until ``start()``, then the bound one (0 asks for any free port)."""
        self.app = web.Application()
        self.app.router.add_get("/healthz", _healthz)
        self._runner: web.AppRunner | None = None

    def serve_metrics(self, registry: CollectorRegistry) -> None:
        """Serve ``GET /metrics``: ``registry`` in the Prometheus (or OpenMetrics) text format."""

        async def metrics(request: web.Request) -> web.Response:
            # Prometheus asks for OpenMetrics in Accept; curl gets the classic text format.
            # Collecting runs on the event loop: it reads in-memory aggregates and
            # the pool gauges' callbacks, which only count connections.
            encode, content_type = choose_encoder(request.headers.get("Accept", ""))
            return web.Response(body=encode(registry), headers={"Content-Type": content_type})

        self.app.router.add_get("/metrics", metrics)

    async def start(self) -> int:
        """Bind and serve; returns the bound port. ``OSError`` if the port is taken."""
        # No access log: a scrape every few seconds would drown the service's own lines.
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("http endpoint on %s:%d (%s)", self.host, self.port, _paths(self.app))
        return self.port

    async def stop(self) -> None:
        """Stop listening and close open connections (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


async def _healthz(_: web.Request) -> web.Response:
    """Liveness: the process and its event loop answer. Readiness is the gRPC health service."""
    return web.Response(text="ok")


def _paths(app: web.Application) -> str:
    return ", ".join(sorted({resource.canonical for resource in app.router.resources()}))
