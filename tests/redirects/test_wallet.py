"""The sandbox redirect wallet end to end (no browser): the page's decisions, the wallet's
signed notifications (replayed, late), the status-query fallback, refunds through the wallet.

Against real PostgreSQL and Redis; the customer's decisions are posted as the
wallet's page posts them (tests/redirects/test_browser.py clicks the real page).
"""

from __future__ import annotations

import json
import time

import aiohttp
from grpc import StatusCode

from core.domain.attempt import AttemptOutcome, ChannelResult
from paycore.v1 import payment_pb2 as pb
from router.channels.acquirer_wire import notification_to_wire
from router.signing import SIGNATURE_HEADER, sign
from tests.routing.bank import event_types
from tests.support.expect import expect_error, expect_invalid
from tests.support.polling import eventually
from tests.support.requests import create_request, manual_capture, usd

from .conftest import WalletServer, WalletStack, wallet_method

S = pb.Payment
FAILED_PRECONDITION = StatusCode.FAILED_PRECONDITION


async def test_a_wallet_payment_waits_for_its_customer_on_the_wallets_page(
    stack: WalletStack,
) -> None:
    payment = await stack.pay()

    redirect = payment.next_action.redirect_to_url
    assert redirect.url.startswith(f"{stack.served.callbacks_url}/redirect_wallet/ws_")
    assert redirect.return_url == stack.return_url
    assert payment.next_action.expire_time.seconds > 0
    assert payment.payment_method.redirect_wallet.provider == "sandbox_pay"
    assert payment.channel == "redirect_wallet"
    assert [a.outcome for a in payment.attempts] == ["pending"]
    read = await stack.served.api.get(payment.id)
    assert read.next_action == payment.next_action  # stored, not only answered
    waiting = await stack.served.api.list_all(states=[S.STATE_REQUIRES_ACTION])
    assert [p.id for p in waiting] == [payment.id]
    pool = stack.served.services.pool
    types = await event_types(pool, stack.served.api.merchant_id, payment.id)
    assert "payment.requires_action" in types


async def test_the_wallets_notification_of_an_approval_captures_the_payment(
    stack: WalletStack,
) -> None:
    payment = await stack.pay()

    reply = await stack.decide(payment, "approve")

    assert reply.status == 303
    assert reply.headers["Location"] == stack.return_url
    done = await stack.settled(payment.id)
    assert done.state == S.STATE_CAPTURED
    assert done.amount_captured == payment.amount
    assert not done.HasField("next_action")
    assert [a.outcome for a in done.attempts] == ["succeeded"]


async def test_an_approval_of_a_manual_capture_payment_authorizes_it(stack: WalletStack) -> None:
    payment = await stack.pay(**manual_capture())
    await stack.decide(payment, "approve")

    assert (await stack.settled(payment.id)).state == S.STATE_AUTHORIZED
    captured = await stack.served.api.capture(payment.id)
    assert captured.state == S.STATE_CAPTURED


async def test_a_decline_in_the_wallet_declines_the_payment(stack: WalletStack) -> None:
    payment = await stack.pay()

    await stack.decide(payment, "decline")

    done = await stack.settled(payment.id)
    assert done.state == S.STATE_DECLINED
    assert done.failure.code == "wallet_declined"


async def test_a_replayed_notification_is_accepted_and_changes_nothing(
    stack: WalletStack,
) -> None:
    payment = await stack.pay()
    await stack.decide(payment, "approve")
    done = await stack.settled(payment.id)

    replay = stack.wallet.notification(stack.session(payment))
    assert await stack.post_notification(replay) == 200
    assert await stack.post_notification(replay) == 200

    again = await stack.served.api.get(payment.id)
    assert again.state == S.STATE_CAPTURED
    assert again.update_time == done.update_time
    types = await event_types(stack.served.services.pool, stack.served.api.merchant_id, payment.id)
    assert types.count("payment.succeeded") == 1


async def test_a_late_approval_after_the_expiry_leaves_the_payment_canceled(
    wallet_server: WalletServer,
) -> None:
    async with wallet_server(expiry_s=0.5) as stack:
        payment = await stack.pay()
        canceled = await stack.settled(payment.id)  # the wallet reports the abandonment
        assert canceled.state == S.STATE_CANCELED
        assert canceled.failure.code == "customer_abandoned"

        # The customer is too late on the page; the wallet stays on its "closed" page.
        assert (await stack.decide(payment, "approve")).status == 410
        # A contradicting notification arriving late (out of order) changes nothing.
        approved = ChannelResult(AttemptOutcome.SUCCEEDED, reference=payment.channel_reference)
        assert await stack.notify(payment.attempts[0].id, approved, "wev_late") == 200

        after = await stack.served.api.get(payment.id)
        assert after.state == S.STATE_CANCELED
        assert after.amount_captured.units == 0 and after.amount_captured.nanos == 0


async def test_a_status_query_settles_a_payment_whose_notification_never_came(
    stack: WalletStack,
) -> None:
    stack.wallet.notify = False  # the wallet records the approval but never tells
    payment = await stack.pay()
    await stack.decide(payment, "approve")
    assert (await stack.served.api.get(payment.id)).state == S.STATE_REQUIRES_ACTION

    # (>= 1: other tests' wallet payments still waiting in the shared database are due too.)
    assert await stack.served.services.status_queries.run_once() >= 1

    done = await stack.served.api.get(payment.id)
    assert done.state == S.STATE_CAPTURED
    assert not done.HasField("next_action")


async def test_a_status_query_before_the_customer_decided_leaves_them_on_the_page(
    stack: WalletStack,
) -> None:
    payment = await stack.pay()

    await stack.served.services.status_queries.run_once()

    still = await stack.served.api.get(payment.id)
    assert still.state == S.STATE_REQUIRES_ACTION
    assert still.next_action == payment.next_action


async def test_a_refund_of_a_wallet_payment_goes_back_through_the_wallet(
    stack: WalletStack,
) -> None:
    payment = await stack.pay(amount=usd(25))
    await stack.decide(payment, "approve")
    await stack.settled(payment.id)

    refunded = (await stack.served.api.refund(payment.id, usd(10))).payment

    assert refunded.state == S.STATE_PARTIALLY_REFUNDED
    (refund,) = refunded.refunds
    assert refund.state == pb.Refund.STATE_SUCCEEDED
    assert refund.channel_reference.startswith("wr_")
    assert [amount.amount for amount in stack.wallet.refunds.values()] == [1000]


async def test_a_wallet_payment_needs_a_return_url_a_provider_and_automatic_confirmation(
    stack: WalletStack,
) -> None:
    api = stack.served.api
    await expect_invalid(
        api.call("CreatePayment", create_request(payment_method=wallet_method())), "return_url"
    )
    await expect_invalid(
        api.call(
            "CreatePayment",
            create_request(payment_method=wallet_method("no spaces"), return_url=stack.return_url),
        ),
        "payment_method.redirect_wallet.provider",
    )
    await expect_invalid(
        api.call(
            "CreatePayment",
            create_request(
                payment_method=wallet_method(),
                return_url=stack.return_url,
                confirmation_method=pb.CONFIRMATION_METHOD_MANUAL,
            ),
        ),
        "confirmation_method",
    )
    assert await api.list_all() == []


async def test_a_payment_waiting_in_the_wallet_cannot_be_canceled_or_captured(
    stack: WalletStack,
) -> None:
    payment = await stack.pay(**manual_capture())
    api = stack.served.api

    await expect_error(api.cancel(payment.id), FAILED_PRECONDITION, "WALLET_CUSTOMER_PENDING")
    await expect_error(api.capture(payment.id), FAILED_PRECONDITION, "WALLET_CUSTOMER_PENDING")

    assert (await api.get(payment.id)).state == S.STATE_REQUIRES_ACTION


async def test_the_wallet_ingress_takes_only_the_wallets_own_signature(
    stack: WalletStack,
) -> None:
    payment = await stack.pay()
    approved = ChannelResult(AttemptOutcome.SUCCEEDED, reference=payment.channel_reference)
    body = json.dumps(notification_to_wire("wev_forged", payment.attempts[0].id, approved))
    url = f"{stack.served.callbacks_url}/callbacks/redirect_wallet"
    forged = {SIGNATURE_HEADER: sign(b"not the wallet's secret", body.encode(), int(time.time()))}

    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=forged) as reply,
    ):
        assert reply.status == 401

    assert (await stack.served.api.get(payment.id)).state == S.STATE_REQUIRES_ACTION


async def test_the_wallet_refuses_a_decision_after_it_was_made(stack: WalletStack) -> None:
    payment = await stack.pay()
    await stack.decide(payment, "decline")
    await eventually(lambda: not stack.session(payment).pending, what="the wallet decided")

    second = await stack.decide(payment, "approve")  # a second tab, a back button

    assert second.status == 303  # back to the merchant, who reads the payment
    assert (await stack.settled(payment.id)).state == S.STATE_DECLINED
    assert stack.session(payment).notices == 1
