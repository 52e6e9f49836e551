"""The sandbox QR wallet end to end (no browser): the merchant shows a QR code, the customer
scans it and pays on the wallet's page; expiry cancels; notification and status query settle.

The browser flows are in tests/redirects/test_browser.py.
"""

from __future__ import annotations

import io

import segno

from paycore.v1 import payment_pb2 as pb
from tests.support.expect import expect_invalid
from tests.support.requests import create_request

from .conftest import WalletServer, WalletStack, qr_wallet_method

S = pb.Payment


async def test_a_qr_wallet_payment_shows_a_qr_code_of_the_wallets_scan_and_pay_page(
    stack: WalletStack,
) -> None:
    qr = stack.qr()
    payment = await qr.pay()

    action = payment.next_action
    assert action.WhichOneof("action") == "display_qr_code"
    code = action.display_qr_code
    assert code.payload.startswith(f"{stack.served.callbacks_url}/qr_wallet/ws_")
    assert code.image_png.startswith(b"\x89PNG\r\n\x1a\n")
    assert code.image_svg.startswith("<svg")
    # The images are the QR code of the payload, not of anything else.
    drawn = io.BytesIO()
    segno.make_qr(code.payload, error="m").save(drawn, kind="png", scale=4)
    assert code.image_png == drawn.getvalue()
    assert action.expire_time.seconds > 0
    assert payment.payment_method.qr_wallet.provider == "sandbox_pay"
    assert payment.channel == "qr_wallet"
    assert (await stack.served.api.get(payment.id)).next_action == action


async def test_scan_and_pay_then_the_wallets_notification_captures_the_payment(
    stack: WalletStack,
) -> None:
    qr = stack.qr()
    payment = await qr.pay()

    reply = await qr.decide(payment, "approve")

    assert reply.status == 200  # the phone stays on the wallet: no merchant page to return to
    done = await qr.settled(payment.id)
    assert done.state == S.STATE_CAPTURED
    assert not done.HasField("next_action")


async def test_a_scanned_payment_the_customer_declines_is_declined(stack: WalletStack) -> None:
    qr = stack.qr()
    payment = await qr.pay()

    await qr.decide(payment, "decline")

    done = await qr.settled(payment.id)
    assert done.state == S.STATE_DECLINED
    assert done.failure.code == "wallet_declined"


async def test_a_qr_code_nobody_scans_expires_and_cancels_the_payment(
    wallet_server: WalletServer,
) -> None:
    async with wallet_server(expiry_s=0.5) as stack:
        qr = stack.qr()
        payment = await qr.pay()

        done = await qr.settled(payment.id)

        assert done.state == S.STATE_CANCELED
        assert done.failure.code == "customer_abandoned"
        assert (await qr.decide(payment, "approve")).status == 410  # scanned too late


async def test_a_status_query_settles_a_scanned_payment_whose_notification_never_came(
    stack: WalletStack,
) -> None:
    qr = stack.qr()
    qr.wallet.notify = False
    payment = await qr.pay()
    await qr.decide(payment, "approve")

    await stack.served.services.status_queries.run_once()

    assert (await stack.served.api.get(payment.id)).state == S.STATE_CAPTURED


async def test_a_qr_wallet_payment_needs_a_provider_and_automatic_confirmation(
    stack: WalletStack,
) -> None:
    api = stack.served.api
    await expect_invalid(
        api.call("CreatePayment", create_request(payment_method=qr_wallet_method("a b"))),
        "payment_method.qr_wallet.provider",
    )
    manual = create_request(
        payment_method=qr_wallet_method(), confirmation_method=pb.CONFIRMATION_METHOD_MANUAL
    )
    await expect_invalid(api.call("CreatePayment", manual), "confirmation_method")
    assert await api.list_all() == []
