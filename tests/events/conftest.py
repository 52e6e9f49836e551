"""Fixtures of the notification tests: a real HTTP receiver, relay workers, gRPC stubs.

The session's paycore server (tests/conftest.py) serves WebhookService and
EventService; it runs no relay (only ``serve()`` does), so each test starts
the relay workers it needs with a compressed retry schedule (``FAST``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest

from core.app import Services
from core.events.relay import RelaySettings, WebhookRelay
from paycore.v1 import event_service_pb2_grpc, webhook_service_pb2_grpc
from tests.support.auth import Metadata, merchant_metadata
from tests.support.requests import new_merchant_id
from tests.support.webhooks import FAST, Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A running receiver."""
    running = Receiver()
    await running.start()
    try:
        yield running
    finally:
        if running.hold is not None:
            running.hold.set()
        await running.stop()


@pytest.fixture
async def make_receiver() -> AsyncIterator[Callable[[], Awaitable[Receiver]]]:
    """More receivers for one test."""
    made: list[Receiver] = []

    async def make() -> Receiver:
        receiver = Receiver()
        await receiver.start()
        made.append(receiver)
        return receiver

    try:
        yield make
    finally:
        for receiver in made:
            if receiver.hold is not None:
                receiver.hold.set()
            await receiver.stop()


@pytest.fixture
async def start_relay(
    services: Services,
) -> AsyncIterator[Callable[..., Awaitable[WebhookRelay]]]:
    """Start relay workers on the session's database (stopped at the end of the test)."""
    started: list[WebhookRelay] = []
    assert services.notifications is not None
    store = services.notifications.deliveries

    async def start(settings: RelaySettings = FAST) -> WebhookRelay:
        relay = WebhookRelay(store, settings)
        await relay.start()
        started.append(relay)
        return relay

    try:
        yield start
    finally:
        for relay in started:
            # Bounded: a relay that does not stop fails its test, not the whole run.
            await asyncio.wait_for(relay.stop(grace_s=0.5), timeout=20)


@pytest.fixture
def webhooks(grpc_channel: grpc.aio.Channel) -> webhook_service_pb2_grpc.WebhookServiceStub:
    """WebhookService stub."""
    return webhook_service_pb2_grpc.WebhookServiceStub(grpc_channel)


@pytest.fixture
def event_stub(grpc_channel: grpc.aio.Channel) -> event_service_pb2_grpc.EventServiceStub:
    """EventService stub."""
    return event_service_pb2_grpc.EventServiceStub(grpc_channel)


@pytest.fixture
async def other_metadata(services: Services) -> Metadata:
    """A caller of a second merchant (an API key of its own)."""
    return await merchant_metadata(services.pool, new_merchant_id())
