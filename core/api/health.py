"""grpc.health.v1.Health for grpc.aio, whose Watch streams end when the server shuts down.

grpc_health's asyncio servicer keeps every Watch stream open forever: at
shutdown it sends NOT_SERVING and waits for the next change, which never
comes. The server's graceful stop then waits the whole grace period for those
streams (a load balancer or a sidecar usually holds one) before it cancels
them. Here a Watch sends NOT_SERVING and then finishes (status OK), so the
drain waits only for real work; a watcher reconnects and finds the server gone.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health_pb2 import HealthCheckResponse

ServingStatus: TypeAlias = HealthCheckResponse.ServingStatus
SERVING = HealthCheckResponse.SERVING
NOT_SERVING = HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = HealthCheckResponse.SERVICE_UNKNOWN


class HealthService(health_pb2_grpc.HealthServicer):  # type: ignore[misc]  # no stubs
    """The serving status of the server ("") and of each service, for Check and Watch."""

    def __init__(self) -> None:
        self._status: dict[str, ServingStatus] = {"": SERVING}
        self._changed = asyncio.Event()
        """Set (and replaced) on every change: a watcher waits on the one it saw last."""
        self._shutting_down = False

    async def Check(  # noqa: N802 (the RPC's name)
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthCheckResponse:
        """The current status; NOT_FOUND for a service never set."""
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(  # noqa: N802 (the RPC's name)
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        """Stream the status now and at every change; end after NOT_SERVING at shutdown."""
        last: ServingStatus | None = None
        while True:
            # Taken before the status is read: a change made after this read sets it.
            changed = self._changed
            status = self._status.get(request.service, SERVICE_UNKNOWN)
            if status != last:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                last = status
            if self._shutting_down:
                return
            await changed.wait()

    async def set(self, service: str, status: ServingStatus) -> None:
        """Set a service's status (ignored once shutting down: it stays NOT_SERVING)."""
        if not self._shutting_down:
            self._status[service] = status
            self._notify()

    async def enter_graceful_shutdown(self) -> None:
        """Everything NOT_SERVING for good; open Watch streams send it and end."""
        self._shutting_down = True
        for service in self._status:
            self._status[service] = NOT_SERVING
        self._notify()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
