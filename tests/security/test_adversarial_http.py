"""Adversarial input to paycore's HTTP port: 4xx, never 5xx, and nothing changes.

The port serves the sandbox ACS challenge page (``/acs/challenge/{id}``), the
3-D Secure completion endpoint (``/3ds/complete``), the sandbox wallets' pages
(``/redirect_wallet/{ref}``, ``/qr_wallet/{ref}``) and the channels'
notification ingress (``/callbacks/{channel}``). Each probe below is a request a
browser or a channel could send: a form the server cannot read, an id that is
no payment's, a notification that is signed but unreadable. Each is answered
with a 4xx, and the payment waiting on the wallet stays as it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import payment_pb2 as pb
from router.signing import SIGNATURE_HEADER
from tests.ledger.test_payouts import Bank, queried
from tests.redirects.conftest import WalletServer, WalletStack, page_url, wallet_server

__all__ = ["queried", "wallet_server"]

FORM = "application/x-www-form-urlencoded"
UNREADABLE_FORMS = [
    (b"--b\r\n\r\n", "multipart/form-data"),  # no boundary
    (b"--b\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b"),  # a field without a name
    (b"decision=approve", f"{FORM}; charset=no-such-charset"),
    (
        b'--b\r\nContent-Disposition: form-data; name="decision"\r\n'
        b"Content-Transfer-Encoding: rot13\r\n\r\napprove\r\n--b--\r\n",
        "multipart/form-data; boundary=b",
    ),
    (
        b'--b\r\nContent-Disposition: form-data; name="decision"\r\n\r\n\xff\xfe\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
    ),
]


@pytest.fixture
async def stack(wallet_server: WalletServer) -> AsyncIterator[WalletStack]:
    """A paycore with its HTTP port: the ACS page, the completion endpoint, the wallets."""
    async with wallet_server() as started:
        yield started


async def _status(method: str, url: str, body: bytes | None = None, **headers: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body, headers=headers, allow_redirects=False) as reply,
    ):
        text = await reply.text(errors="replace")
        assert "Traceback" not in text
        return reply.status


async def test_forms_the_server_cannot_read_are_400_on_every_page(stack: WalletStack) -> None:
    payment = await stack.pay()
    pages = [
        page_url(payment),
        f"{stack.served.callbacks_url}/acs/challenge/{payment.id}",
        f"{stack.served.callbacks_url}/3ds/complete",
    ]
    for url in pages:
        for body, content_type in UNREADABLE_FORMS:
            status = await _status("POST", url, body, **{"Content-Type": content_type})
            assert status == 400, (url, body, content_type)
    assert stack.session(payment).pending
    assert (await stack.served.api.get(payment.id)).state == pb.Payment.STATE_REQUIRES_ACTION


@pytest.mark.parametrize(
    "payment_id", ["nope", "%00", "..%2F..%2Fetc%2Fpasswd", "pay_" + "0" * 4000]
)
async def test_the_acs_page_knows_no_challenge_that_is_not_a_payment_id(
    stack: WalletStack, payment_id: str
) -> None:
    url = f"{stack.served.callbacks_url}/acs/challenge/{payment_id}"
    assert await _status("GET", url) == 404
    form = {"Content-Type": FORM}
    assert await _status("POST", url, b"decision=complete", **form) == 404


async def test_signed_but_unreadable_notifications_are_refused_and_change_nothing(
    stack: WalletStack,
) -> None:
    payment = await stack.pay()
    attempt_id = payment.attempts[0].id
    unreadable = [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"{}",
        b"[" * 100_000,  # deeper than the JSON parser recurses
        json.dumps({"event_id": "e1", "attempt_id": attempt_id, "outcome": "bogus"}).encode(),
        json.dumps({"event_id": "e2", "attempt_id": "att\x00", "outcome": "succeeded"}).encode(),
        json.dumps(
            {
                "event_id": "e3",
                "attempt_id": attempt_id,
                "outcome": "declined",
                "failure_code": "x",
                "failure_message": "nul \x00",
            }
        ).encode(),
    ]
    for body in unreadable:
        assert await stack.post_notification(body) == 401, body[:60]
    url = f"{stack.served.callbacks_url}/callbacks/redirect_wallet"
    for signature in ["t=1,v1=00", "t=99999999999999999999999,v1=00", "\u00ff", "t=,v1="]:
        assert await _status("POST", url, b"{}", **{SIGNATURE_HEADER: signature}) == 401
    assert await _status("POST", url, b"{}") == 401
    stale = {SIGNATURE_HEADER: stack.wallet.sign(b"{}", int(time.time()) - 10_000)}
    assert await _status("POST", url, b"{}", **stale) == 401
    assert stack.session(payment).pending
    assert (await stack.served.api.get(payment.id)).state == pb.Payment.STATE_REQUIRES_ACTION


async def test_signed_but_unreadable_payout_notifications_are_400_and_change_nothing(
    queried: Bank,
) -> None:
    withdrawal = await queried.withdraw(30)
    bank = queried.services.payouts.desk
    unreadable = [
        b"[" * 100_000,
        b"[]",
        json.dumps({"payout_id": "wd\x00", "merchant_id": "m", "status": "paid"}).encode(),
        json.dumps(
            {"payout_id": withdrawal.id, "merchant_id": queried.merchant_id, "status": "?"}
        ).encode(),
    ]
    for body in unreadable:
        assert (await queried.post(body, bank.sign(body, int(time.time()))))[0] == 400, body[:40]
    assert (await queried.get(withdrawal.id)).state == acc.Withdrawal.STATE_PENDING
