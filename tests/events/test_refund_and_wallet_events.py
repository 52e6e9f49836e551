"""What refund events and wallet payments say: over the real gRPC API, the stream and webhooks.

A refund an admin rejects is ``refund.rejected``, not ``refund.failed`` (the
refund never reached a channel); every refund event carries the refund
itself, with its state, amount and failure or rejection reason. A payment
paid from a wallet shows the wallet as its payment method, in GetPayment and
in its events.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from core.events.relay import WebhookRelay
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc, merchant_settings_service_pb2_grpc
from paycore.v1 import event_service_pb2 as ev
from paycore.v1 import merchant_settings_service_pb2 as settings_svc
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.events.helpers import pay
from tests.support.auth import Metadata
from tests.support.polling import eventually
from tests.support.requests import REFUND_FAILS, build, card, new_request_id, usd
from tests.support.webhooks import Receiver, create_endpoint

from .test_stream import read

R = pb.Refund


async def _events(event_stub: Any, metadata: Metadata, count: int) -> list[ev.Event]:
    """The merchant's first ``count`` events, from the stream."""
    call = event_stub.StreamEvents(ev.StreamEventsRequest(), metadata=metadata)
    try:
        return await read(call, count)
    finally:
        call.cancel()


async def _rejected_refund(
    grpc_channel: grpc.aio.Channel, stub: Any, metadata: Metadata, admin_metadata: Metadata
) -> tuple[pb.Payment, pb.Refund]:
    """A captured 100.00 USD payment whose 80.00 refund an admin rejected ("looks like fraud")."""
    settings = merchant_settings_service_pb2_grpc.MerchantSettingsServiceStub(grpc_channel)
    await settings.UpdateMerchantSettings(
        build(
            settings_svc.UpdateMerchantSettingsRequest,
            settings=settings_svc.MerchantSettings(refund_review_thresholds=[usd(50)]),
            update_mask=FieldMask(paths=["refund_review_thresholds"]),
        ),
        metadata=admin_metadata,
    )
    payment = (await pay(stub, metadata, amount=usd(100))).payment
    held = await stub.RefundPayment(
        build(svc.RefundPaymentRequest, payment_id=payment.id, amount=usd(80)), metadata=metadata
    )
    assert held.refund.state == R.STATE_PENDING_REVIEW
    rejected = await stub.RejectRefund(
        build(svc.RejectRefundRequest, refund_id=held.refund.id, reason="looks like fraud"),
        metadata=admin_metadata,
    )
    return payment, rejected.refund


async def test_an_admins_rejection_is_refund_rejected_carrying_the_refund_and_its_reason(
    grpc_channel, stub, event_stub, metadata, admin_metadata
) -> None:
    payment, refund = await _rejected_refund(grpc_channel, stub, metadata, admin_metadata)

    events = await _events(event_stub, metadata, 5)

    assert [(e.type, e.refund_id) for e in events] == [
        ("payment.created", ""),
        ("payment.succeeded", ""),
        ("refund.created", refund.id),
        ("refund.requires_review", refund.id),
        ("refund.rejected", refund.id),
    ]
    rejected = events[-1].refund
    assert (rejected.id, rejected.payment_id, rejected.state) == (
        refund.id,
        payment.id,
        R.STATE_REJECTED,
    )
    assert (rejected.amount, rejected.rejection_reason) == (usd(80), "looks like fraud")
    assert not rejected.HasField("failure")
    assert [e.refund.state for e in events[2:4]] == [R.STATE_PENDING_REVIEW] * 2
    assert not events[0].HasField("refund")  # payment events carry no refund


async def test_a_refund_the_channel_refuses_is_refund_failed_carrying_the_failure(
    stub, event_stub, metadata
) -> None:
    payment = (await pay(stub, metadata, payment_method=card(REFUND_FAILS))).payment
    response = await stub.RefundPayment(
        build(svc.RefundPaymentRequest, payment_id=payment.id, amount=usd(4)), metadata=metadata
    )

    events = await _events(event_stub, metadata, 4)

    assert [e.type for e in events] == [
        "payment.created",
        "payment.succeeded",
        "refund.created",
        "refund.failed",
    ]
    failed = events[-1].refund
    assert (failed.id, failed.state, failed.amount) == (
        response.refund.id,
        R.STATE_FAILED,
        usd(4),
    )
    assert failed.failure.code == "refund_failed" and failed.failure.message
    assert failed.rejection_reason == ""
    # The API shows the same refund, failure included.
    assert response.refund == failed
    shown = await stub.GetPayment(svc.GetPaymentRequest(payment_id=payment.id), metadata=metadata)
    assert list(shown.payment.refunds) == [failed]


async def test_a_rejected_refund_reaches_webhooks_as_refund_rejected_in_json(
    *,
    grpc_channel,
    stub,
    webhooks,
    metadata,
    admin_metadata,
    receiver: Receiver,
    start_relay: Callable[..., Awaitable[WebhookRelay]],
) -> None:
    await create_endpoint(webhooks, metadata, receiver.url, ["refund.rejected", "refund.failed"])
    await start_relay()

    _, refund = await _rejected_refund(grpc_channel, stub, metadata, admin_metadata)

    (delivery,) = await eventually(lambda: receiver.received, what="the delivery")
    body = json.loads(delivery.body)
    assert body["type"] == "refund.rejected"
    assert body["refund"]["id"] == refund.id
    assert body["refund"]["state"] == "STATE_REJECTED"
    assert body["refund"]["amount"] == {"currencyCode": "USD", "units": "80"}
    assert body["refund"]["rejectionReason"] == "looks like fraud"


@pytest.fixture
def accounts(grpc_channel: grpc.aio.Channel) -> Any:
    """AccountService stub."""
    return account_service_pb2_grpc.AccountServiceStub(grpc_channel)


async def test_a_wallet_payment_shows_its_wallet_as_payment_method_in_the_api_and_events(
    accounts, stub, event_stub, metadata
) -> None:
    opened = await accounts.CreateAccount(
        acc.CreateAccountRequest(request_id=new_request_id(), currency_code="USD"),
        metadata=metadata,
    )
    wallet = opened.account.id
    await accounts.TopUpWallet(
        acc.TopUpWalletRequest(
            request_id=new_request_id(), account_id=wallet, amount=usd(50), payment_method=card()
        ),
        metadata=metadata,
    )

    paid = await accounts.PayFromWallet(
        acc.PayFromWalletRequest(request_id=new_request_id(), account_id=wallet, amount=usd(20)),
        metadata=metadata,
    )

    payment = paid.payment
    assert payment.state == pb.Payment.STATE_CAPTURED
    assert payment.payment_method.WhichOneof("kind") == "wallet"
    assert payment.payment_method.wallet.account_id == wallet
    shown = await stub.GetPayment(svc.GetPaymentRequest(payment_id=payment.id), metadata=metadata)
    assert shown.payment.payment_method.wallet.account_id == wallet
    events = [e for e in await _events(event_stub, metadata, 4) if e.payment.id == payment.id]
    assert [e.type for e in events] == ["payment.created", "payment.succeeded"]
    assert {e.payment.payment_method.wallet.account_id for e in events} == {wallet}
    # The top-up was paid by card: its payment method stays the card.
    (top_up,) = await _top_ups(stub, metadata, exclude=payment.id)
    assert top_up.payment_method.WhichOneof("kind") == "card"


async def _top_ups(stub: Any, metadata: Metadata, exclude: str) -> list[pb.Payment]:
    listed = await stub.ListPayments(svc.ListPaymentsRequest(page_size=10), metadata=metadata)
    return [p for p in listed.payments if p.id != exclude]
