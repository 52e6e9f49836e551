"""A paycore serving its HTTP port (the ACS page, the completion endpoint) over acquirer_a.

``acquirer_a`` declines ``4000000000003220`` (``authentication_required``) unless
the attempt carries a 3-D Secure result: routing every payment there proves
the authentication reached the channel. The merchant's return page is a tiny
HTTP server of the test's own.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.config import ChannelSettings, Settings
from paycore.v1 import payment_pb2 as pb
from router.channels.simulated import SimulatedAcquirer
from tests.routing.conftest import Served, serve
from tests.support.requests import card

CHALLENGE = "4000000000003220"
REFUSED_CHALLENGE = "4000008400001629"
FRICTIONLESS = "4000000000003063"
UNAVAILABLE = "4000000000003097"

ROUTING = """
[default]
strategies = ["rules"]

[[default.rules]]
name = "a"
channels = ["acquirer_a"]
"""


@dataclass
class ThreeDSStack:
    """A served paycore, its acquirer_a, and the merchant's return page."""

    served: Served
    return_url: str

    @property
    def acquirer(self) -> SimulatedAcquirer:
        channel = self.served.services.router.channel("acquirer_a")
        assert isinstance(channel, SimulatedAcquirer)
        return channel

    async def challenged(self, number: str = CHALLENGE) -> pb.Payment:
        """A new payment waiting for its customer's challenge."""
        payment = await self.served.api.create(
            payment_method=card(number), return_url=self.return_url
        )
        assert payment.state == pb.Payment.STATE_REQUIRES_ACTION, payment
        return payment


ThreeDSServer = Callable[..., AbstractAsyncContextManager[ThreeDSStack]]


@pytest.fixture
def three_ds_server(settings: Settings, tmp_path: Path, return_page: str) -> ThreeDSServer:
    """Start a paycore whose challenges expire after ``expiry_s`` (swept every ``sweep_s``),
    serving its HTTP port unless ``callbacks`` is False."""
    routing = tmp_path / "routing.toml"
    routing.write_text(ROUTING)

    @asynccontextmanager
    async def start(
        expiry_s: float = 600.0, sweep_s: float = 0.1, *, callbacks: bool = True
    ) -> AsyncIterator[ThreeDSStack]:
        channels = ChannelSettings(
            three_ds_challenge_expiry_s=expiry_s, three_ds_sweep_interval_s=sweep_s
        )
        changes = {"channels": channels, "callbacks_enabled": callbacks}
        async with serve(settings, None, routing, changes) as served:
            yield ThreeDSStack(served, return_page)

    return start


@pytest.fixture
async def stack(three_ds_server: ThreeDSServer) -> AsyncIterator[ThreeDSStack]:
    """A paycore whose challenges stay open for ten minutes."""
    async with three_ds_server() as started:
        yield started


_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


async def acs_result(challenge_url: str, decision: str) -> dict[str, str]:
    """What the ACS page hands the browser after ``decision``: the signed result's form fields."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(challenge_url, data={"decision": decision}) as reply,
    ):
        assert reply.status == 200, await reply.text()
        page = await reply.text()
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


async def post_completion(stack: ThreeDSStack, fields: dict[str, Any]) -> aiohttp.ClientResponse:
    """POST a result to the completion endpoint (redirects not followed)."""
    url = f"{stack.served.callbacks_url}/3ds/complete"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=fields, allow_redirects=False) as reply,
    ):
        await reply.read()
        return reply


async def signed_result(payment: pb.Payment, decision: str) -> dict[str, str]:
    """The ACS's signed result for ``payment``'s challenge after ``decision``."""
    return await acs_result(payment.next_action.redirect_to_url.url, decision)
