"""Bank transfer through the public API: PENDING with instructions, settled by the bank.

Every payment here is made with gRPC CreatePayment / ConfirmPayment and
settled by the SimulatedBank's RSA-signed notification arriving at the real
callbacks ingress (or, when it never arrives, by a status query).
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg
import grpc
import pytest
from aiohttp import ClientSession
from cryptography.hazmat.primitives.asymmetric import rsa
from google.type import money_pb2

from core.api.requests.accounts import top_up_wallet
from core.auth.policy import Role
from core.config import ChannelSettings, Settings
from core.domain.attempt import AttemptOutcome, ChannelResult
from core.domain.errors import ValidationError
from core.domain.payment import Failure
from paycore.v1 import account_service_pb2 as account_svc
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import risk_service_pb2 as risk_svc
from paycore.v1 import risk_service_pb2_grpc
from router.channel import BadSignature
from router.channels.acquirer_wire import notification_to_wire
from router.channels.bank_transfer import (
    BANK_TRANSFER_PROFILE,
    TEST_COLLECTION_ACCOUNT,
    BankTransferChannel,
    SimulatedBank,
)
from router.signing import SIGNATURE_HEADER, sign, sign_rsa
from tests.routing.conftest import Served, serve
from tests.support.api import Api
from tests.support.auth import merchant_metadata
from tests.support.expect import FAILED_PRECONDITION, expect_error, expect_invalid, same_payment
from tests.support.polling import eventually
from tests.support.requests import build, money

BANK_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
S = pb.Payment


def eur(cents: int) -> money_pb2.Money:
    """Euros from cents, as google.type.Money."""
    return money(cents // 100, (cents % 100) * 10_000_000, "EUR")


def transfer(payer_name: str = "Grace Hopper", payer_email: str = "") -> pb.PaymentMethodData:
    """A bank-transfer payment method."""
    return pb.PaymentMethodData(
        bank_transfer=pb.BankTransferData(payer_name=payer_name, payer_email=payer_email)
    )


@dataclass
class BankStack:
    served: Served
    bank: SimulatedBank
    channel: BankTransferChannel

    @property
    def api(self) -> Api:
        return self.served.api

    @property
    def notify_url(self) -> str:
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


async def pay_by_transfer(api: Api, cents: int, **fields: object) -> pb.Payment:
    """CreatePayment by bank transfer in EUR; the first reply."""
    request = build(
        svc.CreatePaymentRequest, amount=eur(cents), payment_method=transfer(), **fields
    )
    return (await api.call("CreatePayment", request)).payment


async def settled(api: Api, payment_id: str) -> pb.Payment:
    """The payment once it left PENDING (polls GetPayment with a deadline)."""

    async def left_pending() -> pb.Payment | None:
        payment = await api.get(payment_id)
        return None if payment.state == S.STATE_PENDING else payment

    settled: pb.Payment = await eventually(
        left_pending, within_s=10, what="the bank's notification never settled the payment"
    )
    return settled


async def balances(pool: asyncpg.Pool, merchant_id: str) -> dict[str, int]:
    """Posted ledger balance (sum of entries) of each of the merchant's accounts."""
    rows = await pool.fetch(
        "SELECT account_id, sum(amount)::bigint AS total FROM ledger_entries"
        " WHERE merchant_id = $1 GROUP BY account_id",
        merchant_id,
    )
    return {row["account_id"]: row["total"] for row in rows if row["total"]}


async def event_types(pool: asyncpg.Pool, merchant_id: str, payment_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT type FROM events WHERE merchant_id = $1 AND resource_id = $2 ORDER BY sequence",
        merchant_id,
        payment_id,
    )
    return [row["type"] for row in rows]


async def notify(stack: BankStack, attempt_id: str, result: ChannelResult, event: str) -> int:
    """Post a notification signed with the bank's key; the ingress's status code."""
    body = json.dumps(notification_to_wire(event, attempt_id, result)).encode()
    header = sign_rsa(BANK_KEY, body, int(time.time()))
    async with (
        ClientSession() as client,
        client.post(stack.notify_url, data=body, headers={SIGNATURE_HEADER: header}) as answer,
    ):
        return answer.status


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


# --- notifications: duplicates, order, signatures -----------------------------------


async def test_duplicate_late_and_contradicting_notifications_change_nothing(
    bank_stack: BankStack,
) -> None:
    bank_stack.bank.settle_after_s = 3600.0  # the bank stays silent: the test posts
    api, pool = bank_stack.api, bank_stack.served.services.pool
    reply = await pay_by_transfer(api, 2500)
    attempt_id = reply.attempts[0].id
    arrived = ChannelResult(AttemptOutcome.SUCCEEDED, reference=reply.channel_reference)

    statuses = [
        await notify(bank_stack, attempt_id, ChannelResult(AttemptOutcome.PENDING), "ev_0"),
        await notify(bank_stack, attempt_id, arrived, "ev_1"),
        await notify(bank_stack, attempt_id, arrived, "ev_1"),  # the bank retried
        await notify(bank_stack, attempt_id, ChannelResult(AttemptOutcome.PENDING), "ev_0"),
        await notify(
            bank_stack,
            attempt_id,
            ChannelResult(AttemptOutcome.FAILED, failure=Failure("transfer_rejected", "late")),
            "ev_2",
        ),
    ]

    assert statuses == [200] * 5
    payment = await api.get(reply.id)
    assert payment.state == S.STATE_CAPTURED
    assert payment.amount_captured == eur(2500)
    assert await balances(pool, api.merchant_id) == {
        f"clearing.{bank_stack.channel.name}.EUR": -2500,
        "merchant_pending.EUR": 2500,
    }  # posted once
    assert (await event_types(pool, api.merchant_id, reply.id)).count("payment.succeeded") == 1


async def test_the_bank_channel_takes_only_its_own_fresh_rsa_signature(
    bank_stack: BankStack,
) -> None:
    bank_stack.bank.settle_after_s = 3600.0
    reply = await pay_by_transfer(bank_stack.api, 2500)
    body = json.dumps(
        notification_to_wire("ev_x", reply.attempts[0].id, ChannelResult(AttemptOutcome.SUCCEEDED))
    ).encode()
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())

    async with ClientSession() as client:
        for header in (
            sign_rsa(impostor, body, now),
            sign(b"hmac-secret", body, now),
            sign_rsa(BANK_KEY, body, now - 3600),  # stale
        ):
            headers = {SIGNATURE_HEADER: header}
            async with client.post(bank_stack.notify_url, data=body, headers=headers) as answer:
                assert answer.status == 401
    assert (await bank_stack.api.get(reply.id)).state == S.STATE_PENDING
    with pytest.raises(BadSignature, match="stale"):
        bank_stack.channel.parse_callback(
            {SIGNATURE_HEADER: sign_rsa(BANK_KEY, body, now - 3600)}, body
        )


# --- a notification that never comes ----------------------------------------------


async def test_a_lost_notification_is_caught_by_the_pending_schedule(
    bank_stack: BankStack,
) -> None:
    bank_stack.bank.notify_url = ""  # the bank settles but never tells
    reply = await pay_by_transfer(bank_stack.api, 2500)
    transfer = reply.attempts[0].id
    await eventually(  # it settles after 50 ms
        lambda: bank_stack.bank.transfers[transfer].outcome is not AttemptOutcome.PENDING,
        within_s=10,
        what="the simulated bank never settled",
    )

    assert await bank_stack.served.services.status_queries.run_once() == 1

    assert (await settled(bank_stack.api, reply.id)).state == S.STATE_CAPTURED


async def test_a_transfer_pending_past_its_schedule_needs_attention(
    bank_stack: BankStack,
) -> None:
    bank_stack.bank.settle_after_s = 3600.0
    reply = await pay_by_transfer(bank_stack.api, 2500)
    scheduler = bank_stack.served.services.status_queries

    rounds = [await scheduler.run_once() for _ in range(3)]

    assert rounds == [1, 1, 0]  # the compressed pending schedule "0,0": two queries
    payment = await bank_stack.api.get(reply.id)
    assert payment.state == S.STATE_PENDING
    assert [(a.outcome, a.needs_attention) for a in payment.attempts] == [("pending", True)]


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
