"""A paycore server of its own over simulated acquirers or a bank, with names unique to the test.

Unique channel names keep each test's status-query rounds to its own attempts
(a scheduler only leases attempts on channels it has adapters for).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.app import Services
from core.config import ChannelSettings, Settings, StatusQuerySettings
from core.telemetry import Telemetry
from paycore.v1 import payment_service_pb2_grpc
from router.channel import Channel
from router.channels.bank_transfer import BANK_TRANSFER_PROFILE, BankTransferChannel, SimulatedBank
from router.channels.simulated import (
    ACQUIRER_A,
    ACQUIRER_B,
    AcquirerSpec,
    Behaviour,
    SimulatedAcquirer,
)
from router.simulator.app import ChannelSimulator, start_simulator
from tests.support.api import Api
from tests.support.auth import merchant_metadata
from tests.support.requests import new_merchant_id
from tests.support.serving import serve_paycore

from .bank import BANK_KEY


def renamed(spec: AcquirerSpec, name: str) -> AcquirerSpec:
    """``spec`` under another channel name."""
    return dataclasses.replace(spec, profile=dataclasses.replace(spec.profile, name=name))


CALLBACK_SECRET = b"callback-secret"


@dataclass
class Stack:
    """One test's paycore: its services, a merchant's API, and the two acquirers."""

    services: Services
    api: Api
    a: SimulatedAcquirer
    b: SimulatedAcquirer
    callbacks_url: str
    """Base URL of the notifications ingress (``/callbacks/<channel>`` below it)."""
    target: str = ""
    """The gRPC server's address (for other merchants' or services' stubs)."""


def routing_toml(a: str, b: str) -> str:
    """The test routing: EUR goes to b first; everything else a then b, skipping open circuits."""
    return f"""
[default]
strategies = ["rules", "health"]

[[default.rules]]
name = "eur-to-b"
channels = ["{b}", "{a}"]
currencies = ["EUR"]

[[default.rules]]
name = "rest"
channels = ["{a}", "{b}"]
"""


@dataclass
class Served:
    """A started paycore with its own channels, and one merchant's API of it."""

    services: Services
    api: Api
    callbacks_url: str
    target: str = ""
    """The gRPC server's address (for stubs of other services)."""


@asynccontextmanager
async def serve(
    settings: Settings,
    channels: list[Channel] | None,
    routing: Path,
    changes: dict[str, Any] | None = None,
    telemetry: Telemetry | None = None,
) -> AsyncIterator[Served]:
    """Services and a started server over ``channels``; channel timeout 0.5 s (unless changed).

    The notifications ingress listens on a free port; status-query rounds
    are run by the tests themselves, on a compressed schedule. ``channels``
    None: the built-in ones, as configured by ``changes`` (to the settings).
    """
    defaults: dict[str, Any] = {
        "channel_timeout_s": 0.5,
        "routing_file": str(routing),
        "callbacks_enabled": True,
        "callbacks_port": 0,
        "status_query": StatusQuerySettings(
            enabled=False,
            schedule_s="0,0,0",
            pending_schedule_s="0,0",
            started_grace_s=30.0,
            lease_s=30.0,
        ),
    }
    own = settings.replace(**(defaults | (changes or {})))
    async with serve_paycore(own, channels=channels, telemetry=telemetry) as paycore:
        merchant_id = new_merchant_id()
        api = Api(
            paycore.stub(payment_service_pb2_grpc.PaymentServiceStub),
            merchant_id,
            await merchant_metadata(paycore.services.pool, merchant_id),
        )
        yield Served(
            paycore.services,
            api,
            f"http://127.0.0.1:{paycore.server.callbacks_port}",
            paycore.target,
        )


@asynccontextmanager
async def serve_over_simulator(
    settings: Settings,
    simulator: ChannelSimulator,
    routing: Path,
    secret: bytes,
    *,
    notify: bool = True,
) -> AsyncIterator[Served]:
    """paycore whose ``acquirer_a`` is ``simulator``, started on a free port, over HTTP.

    With ``notify`` the simulator posts its notifications to the served callbacks ingress.
    """
    endpoint = await start_simulator(simulator)
    table = '[default]\nstrategies = ["rules"]\n[[default.rules]]\nname = "a"\n'
    await asyncio.to_thread(routing.write_text, table + 'channels = ["acquirer_a"]\n')
    channels = ChannelSettings(
        acquirer_a_url=f"http://127.0.0.1:{endpoint.port}", http_secret=secret.decode()
    )
    try:
        async with serve(settings, None, routing, {"channels": channels}) as served:
            if notify:
                simulator.notify_url = f"{served.callbacks_url}/callbacks/acquirer_a"
            yield served
    finally:
        await endpoint.stop()


@pytest.fixture
async def stack(settings: Settings, tmp_path: Path) -> AsyncIterator[Stack]:
    """A paycore over acquirers ``a`` (first) and ``b``, with names unique to the test."""
    suffix = uuid.uuid4().hex[:8]
    a = SimulatedAcquirer(
        renamed(ACQUIRER_A, f"a_{suffix}"), Behaviour(hang_s=1.0), callback_secret=CALLBACK_SECRET
    )
    b = SimulatedAcquirer(renamed(ACQUIRER_B, f"b_{suffix}"), callback_secret=CALLBACK_SECRET)
    routing = tmp_path / "routing.toml"
    routing.write_text(routing_toml(a.name, b.name))
    async with serve(settings, [a, b], routing) as served:
        yield Stack(served.services, served.api, a, b, served.callbacks_url, served.target)


@dataclass
class BankStack:
    """A paycore served over one bank-transfer channel and its simulated bank."""

    served: Served
    bank: SimulatedBank
    channel: BankTransferChannel

    @property
    def api(self) -> Api:
        """The test merchant's PaymentService calls."""
        return self.served.api

    @property
    def notify_url(self) -> str:
        """Where the bank posts its notifications (the callbacks ingress)."""
        return f"{self.served.callbacks_url}/callbacks/{self.channel.name}"


@pytest.fixture
async def bank_stack(settings: Settings, tmp_path: Path) -> AsyncIterator[BankStack]:
    """paycore over one bank channel named for this test (status-query rounds stay its own)."""
    bank = SimulatedBank(BANK_KEY, settle_after_s=0.05)
    profile = dataclasses.replace(BANK_TRANSFER_PROFILE, name=f"bank_{uuid.uuid4().hex[:8]}")
    channel = BankTransferChannel(bank, BANK_KEY.public_key(), profile=profile)
    routing = tmp_path / "routing.toml"
    routing.write_text('[default]\nstrategies = ["health"]\n')
    async with serve(settings, [channel], routing) as served:
        # The server announced its ingress to the channel when it started.
        assert bank.notify_url == f"{served.callbacks_url}/callbacks/{channel.name}"
        try:
            yield BankStack(served, bank, channel)
        finally:
            await bank.close()
