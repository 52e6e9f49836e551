"""Bank transfer through the public API: PENDING with instructions, settled by the bank.

Every payment here is made with gRPC CreatePayment / ConfirmPayment and
settled by the SimulatedBank's RSA-signed notification arriving at the real
callbacks ingress (or, when it never arrives, by a status query).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import date
from pathlib import Path

import grpc
import pytest

from core.api.requests.accounts import top_up_wallet
from core.auth.policy import Role
from core.config import ChannelSettings, Settings
from core.domain.errors import ValidationError
from paycore.v1 import account_service_pb2 as account_svc
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import risk_service_pb2 as risk_svc
from paycore.v1 import risk_service_pb2_grpc
from router.channels.bank_transfer import TEST_COLLECTION_ACCOUNT
from tests.routing.conftest import BankStack, serve
from tests.support.auth import merchant_metadata
from tests.support.expect import FAILED_PRECONDITION, expect_error, expect_invalid, same_payment
from tests.support.requests import build, money

from .bank import S, balances, eur, event_types, pay_by_transfer, settled, transfer

# --- the happy path and the rejected transfer ------------------------------------------


async def test_a_transfer_is_pending_with_instructions_until_the_money_arrives(
    bank_stack: BankStack,
) -> None:
    api, pool = bank_stack.api, bank_stack.served.services.pool

    reply = await pay_by_transfer(api, 2500)

    assert reply.state == S.STATE_PENDING  # answered: waiting for the customer's money
    shown = reply.payment_method.bank_transfer
    assert shown.payer_name == "Grace Hopper"
    assert shown.reference.startswith("bt_") and shown.reference == reply.channel_reference
    assert (shown.iban, shown.bic, shown.account_holder) == (
        TEST_COLLECTION_ACCOUNT.iban,
        TEST_COLLECTION_ACCOUNT.bic,
        TEST_COLLECTION_ACCOUNT.holder,
    )
    assert list(reply.routing.candidates) == [bank_stack.channel.name]
    assert await balances(pool, api.merchant_id) == {}  # nothing moved yet

    payment = await settled(api, reply.id)

    assert payment.state == S.STATE_CAPTURED
    assert payment.amount_captured == eur(2500)
    assert [(a.operation, a.outcome) for a in payment.attempts] == [("authorize", "succeeded")]
    assert payment.payment_method.bank_transfer.reference == shown.reference
    assert await balances(pool, api.merchant_id) == {
        f"clearing.{bank_stack.channel.name}.EUR": -2500,
        "merchant_pending.EUR": 2500,
    }
    assert await event_types(pool, api.merchant_id, reply.id) == [
        "payment.created",
        "payment.succeeded",
    ]


async def test_a_rejected_transfer_fails_the_payment_and_moves_nothing(
    bank_stack: BankStack,
) -> None:
    api, pool = bank_stack.api, bank_stack.served.services.pool
    reply = await pay_by_transfer(api, 2599)  # the simulated bank rejects ...99

    payment = await settled(api, reply.id)

    assert payment.state == S.STATE_FAILED
    assert payment.failure.code == "transfer_rejected"
    assert await balances(pool, api.merchant_id) == {}
    assert (await event_types(pool, api.merchant_id, reply.id))[-1] == "payment.failed"


async def test_manual_confirmation_brings_the_transfer_later(bank_stack: BankStack) -> None:
    api = bank_stack.api
    created = await api.create(
        amount=eur(1000),
        confirmation_method=pb.CONFIRMATION_METHOD_MANUAL,
        payment_method=None,
    )
    request = build(svc.ConfirmPaymentRequest, payment_id=created.id, payment_method=transfer())

    confirmed = (await api.call("ConfirmPayment", request)).payment

    assert confirmed.state == S.STATE_PENDING
    assert confirmed.payment_method.bank_transfer.reference.startswith("bt_")
    assert (await settled(api, created.id)).state == S.STATE_CAPTURED


# --- what may be done with a transfer ---------------------------------------------------


async def test_a_pending_transfer_cannot_be_captured_canceled_or_refunded(
    bank_stack: BankStack,
) -> None:
    bank_stack.bank.settle_after_s = 3600.0  # the money does not arrive during the test
    api = bank_stack.api
    reply = await pay_by_transfer(api, 2500)
    before = await api.get(reply.id)

    for call in (
        api.capture(reply.id),
        api.cancel(reply.id),
        api.refund(reply.id),
    ):
        await expect_error(call, FAILED_PRECONDITION, "BANK_TRANSFER_PENDING")

    same_payment(before, await api.get(reply.id))


async def test_an_arrived_transfer_is_refunded_like_any_payment_and_not_canceled(
    bank_stack: BankStack,
) -> None:
    api, pool = bank_stack.api, bank_stack.served.services.pool
    payment = await settled(api, (await pay_by_transfer(api, 2500)).id)

    refunded = await api.refund(payment.id, eur(1000))

    assert refunded.refund.state == pb.Refund.STATE_SUCCEEDED
    assert refunded.payment.state == S.STATE_PARTIALLY_REFUNDED
    assert (await balances(pool, api.merchant_id))["merchant_pending.EUR"] == 1500
    await expect_error(api.cancel(payment.id), FAILED_PRECONDITION, "PAYMENT_NOT_CANCELABLE")
    await expect_error(api.capture(payment.id), FAILED_PRECONDITION, "PAYMENT_NOT_CAPTURABLE")


async def test_bad_bank_transfer_requests_are_refused_with_field_violations(
    bank_stack: BankStack,
) -> None:
    api = bank_stack.api

    def create(**fields: object) -> Awaitable[svc.CreatePaymentResponse]:
        values = {"amount": eur(1000), "payment_method": transfer(), **fields}
        return api.call("CreatePayment", build(svc.CreatePaymentRequest, **values))

    await expect_invalid(
        create(payment_method=transfer(payer_name="  ")), "payment_method.bank_transfer.payer_name"
    )
    await expect_invalid(
        create(payment_method=transfer(payer_name="x" * 201)),
        "payment_method.bank_transfer.payer_name",
    )
    await expect_invalid(
        create(payment_method=transfer(payer_email="not-an-email")),
        "payment_method.bank_transfer.payer_email",
    )
    await expect_invalid(create(capture_method=pb.CAPTURE_METHOD_MANUAL), "capture_method")
    assert (await api.list()).payments == []  # nothing was created


async def test_a_currency_the_bank_does_not_take_is_not_routed(bank_stack: BankStack) -> None:
    reply = await bank_stack.api.create(amount=money(1000, 0, "JPY"), payment_method=transfer())

    assert reply.state == S.STATE_FAILED
    assert reply.failure.code == "no_route"
    assert reply.attempts == []


# --- the built-in bank of a started server ----------------------------------------


async def test_the_built_in_bank_notifies_the_servers_own_ingress(
    settings: Settings, tmp_path: Path
) -> None:
    routing = tmp_path / "routing.toml"
    routing.write_text('[default]\nstrategies = ["health"]\n')
    changes = {"channels": ChannelSettings(bank_settle_after_s=0.05)}
    async with serve(settings, None, routing, changes) as served:
        reply = await pay_by_transfer(served.api, 4200)
        assert reply.state == S.STATE_PENDING
        assert reply.channel == "bank_transfer"

        payment = await settled(served.api, reply.id)

    assert payment.state == S.STATE_CAPTURED


# --- a transfer held by risk ------------------------------------------------------


async def test_a_transfer_held_for_review_is_sent_to_the_bank_once_approved(
    bank_stack: BankStack,
) -> None:
    api = bank_stack.api
    admin = await merchant_metadata(bank_stack.served.services.pool, api.merchant_id, Role.ADMIN)
    # The shipped rules hold a never-seen customer spending 3,000.00 or more.
    held = await pay_by_transfer(api, 300_000, customer_id=f"c_{uuid.uuid4().hex[:8]}")
    assert held.state == S.STATE_REQUIRES_REVIEW
    assert held.attempts == [] and not held.payment_method.bank_transfer.reference

    async with grpc.aio.insecure_channel(bank_stack.served.target) as channel:
        risk = risk_service_pb2_grpc.RiskServiceStub(channel)
        request = build(risk_svc.ApproveReviewRequest, payment_id=held.id, note="known payer")
        approved = (await risk.ApproveReview(request, metadata=admin)).payment

    assert approved.state == S.STATE_PENDING
    assert approved.payment_method.bank_transfer.reference.startswith("bt_")
    assert (await settled(api, held.id)).state == S.STATE_CAPTURED


def test_a_wallet_top_up_takes_no_bank_transfer() -> None:
    request = account_svc.TopUpWalletRequest(
        request_id="r1", account_id="acct_x", amount=eur(1000), payment_method=transfer()
    )

    with pytest.raises(ValidationError) as raised:
        top_up_wallet("m_1", request, date.today())

    assert "payment_method.bank_transfer" in [v.field for v in raised.value.violations]
