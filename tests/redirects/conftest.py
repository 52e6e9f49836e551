"""A paycore serving its HTTP port over the sandbox redirect wallet (channel ``redirect_wallet``).

Every payment routes to the wallet; its pages are served on the callbacks
port beside the notification ingress, and the merchant's return page is a
tiny HTTP server of the test's own (``return_page``).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.config import ChannelSettings, Settings
from core.domain.attempt import ChannelResult
from paycore.v1 import payment_pb2 as pb
from router.channels.acquirer_wire import notification_to_wire
from router.channels.redirect_wallet import RedirectWalletChannel
from router.channels.wallet_book import WalletBook, WalletSession
from router.signing import SIGNATURE_HEADER
from tests.routing.conftest import Served, serve
from tests.support.polling import eventually

ROUTING = """
[default]
strategies = ["rules"]

[[default.rules]]
name = "wallet"
channels = ["redirect_wallet", "qr_wallet"]
"""

S = pb.Payment


def wallet_method(provider: str = "sandbox_pay") -> pb.PaymentMethodData:
    """A redirect wallet payment method."""
    return pb.PaymentMethodData(redirect_wallet=pb.RedirectWallet(provider=provider))


def qr_wallet_method(provider: str = "sandbox_pay") -> pb.PaymentMethodData:
    """A QR wallet payment method (the merchant shows a QR code)."""
    return pb.PaymentMethodData(qr_wallet=pb.QrWallet(provider=provider))


@dataclass
class WalletStack:
    """A served paycore, its sandbox wallet, and the merchant's return page."""

    served: Served
    return_url: str
    channel: str = "redirect_wallet"
    """The wallet the tests pay with: ``redirect_wallet``, or ``qr_wallet`` (``qr()``)."""

    @property
    def wallet(self) -> WalletBook:
        channel = self.served.services.router.channel(self.channel)
        assert isinstance(channel, RedirectWalletChannel)
        return channel.wallet

    def qr(self) -> WalletStack:
        """The same paycore, paying with the QR wallet."""
        return WalletStack(self.served, self.return_url, "qr_wallet")

    async def pay(self, **fields: Any) -> pb.Payment:
        """A new wallet payment, waiting for its customer on the wallet's page."""
        method: dict[str, Any] = {"payment_method": qr_wallet_method()}
        if self.channel == "redirect_wallet":
            method = {"payment_method": wallet_method(), "return_url": self.return_url}
        payment = await self.served.api.create(**method, **fields)
        assert payment.state == S.STATE_REQUIRES_ACTION, payment
        return payment

    def session(self, payment: pb.Payment) -> WalletSession:
        """The wallet's session of ``payment``."""
        return self.wallet.sessions[payment.channel_reference]

    async def decide(self, payment: pb.Payment, decision: str) -> aiohttp.ClientResponse:
        """The customer's decision posted from the wallet's page (redirects not followed)."""
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                page_url(payment), data={"decision": decision}, allow_redirects=False
            ) as reply,
        ):
            await reply.read()
            return reply

    async def settled(self, payment_id: str) -> pb.Payment:
        """The payment once it left REQUIRES_ACTION (the wallet's notification arrived)."""

        async def left() -> pb.Payment | None:
            payment = await self.served.api.get(payment_id)
            return None if payment.state == S.STATE_REQUIRES_ACTION else payment

        done: pb.Payment = await eventually(left, what="the wallet never settled the payment")
        return done

    async def notify(self, attempt_id: str, result: ChannelResult, event_id: str) -> int:
        """Post a notification signed with the wallet's secret; the ingress's status code."""
        body = notification_to_wire(event_id, attempt_id, result)
        return await self.post_notification(json.dumps(body).encode())

    async def post_notification(self, body: bytes) -> int:
        """Post ``body`` signed with the wallet's secret now; the ingress's status code."""
        headers = {SIGNATURE_HEADER: self.wallet.sign(body, int(time.time()))}
        url = f"{self.served.callbacks_url}/callbacks/redirect_wallet"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body, headers=headers) as reply,
        ):
            return reply.status


def page_url(payment: pb.Payment) -> str:
    """The wallet's page of ``payment``: redirected to, or scanned from its QR code."""
    action = payment.next_action
    if action.WhichOneof("action") == "display_qr_code":
        return action.display_qr_code.payload
    return action.redirect_to_url.url


WalletServer = Callable[..., AbstractAsyncContextManager[WalletStack]]


@pytest.fixture
def wallet_server(settings: Settings, tmp_path: Path, return_page: str) -> WalletServer:
    """Start a paycore whose wallet sessions expire after ``expiry_s``."""
    routing = tmp_path / "routing.toml"
    routing.write_text(ROUTING)

    @asynccontextmanager
    async def start(expiry_s: float = 900.0) -> AsyncIterator[WalletStack]:
        changes = {"channels": ChannelSettings(redirect_wallet_expiry_s=expiry_s)}
        async with serve(settings, None, routing, changes) as served:
            yield WalletStack(served, return_page)

    return start


@pytest.fixture
async def stack(wallet_server: WalletServer) -> AsyncIterator[WalletStack]:
    """A paycore whose wallet sessions stay open for fifteen minutes."""
    async with wallet_server() as started:
        yield started
