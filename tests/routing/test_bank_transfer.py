"""The bank-transfer channel: PENDING at authorization, settled by an RSA-signed notification.

Bank transfers have no API method yet (the next landing adds one to
PaymentMethodData), so these tests send a card-less payment through the real
request engine with a hand-written plan, exactly as PaymentService does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import ClientSession
from cryptography.hazmat.primitives.asymmetric import rsa

from core.config import Settings
from core.domain import ids, lifecycle
from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.errors import PaycoreError
from core.domain.money import Money
from core.domain.payment import (
    CaptureMethod,
    ConfirmationMethod,
    Payment,
    PaymentState,
    RiskAssessment,
    RiskDecision,
)
from core.service.execution import Dispatch, Encoder, Plan, RequestIdentity
from core.storage.repository import PaymentTransaction, RequestKey
from router.channel import BadSignature
from router.channels.bank_transfer import BankTransferChannel, SimulatedBank
from router.routing import RouteRequest
from router.signing import SIGNATURE_HEADER, sign, sign_rsa
from router.simulator.wire import notification_to_wire
from tests.routing.conftest import Served, serve

BANK_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class BankStack:
    served: Served
    bank: SimulatedBank
    channel: BankTransferChannel


@pytest.fixture
async def bank_stack(settings: Settings, tmp_path: Path) -> AsyncIterator[BankStack]:
    bank = SimulatedBank(BANK_KEY, settle_after_s=0.05)
    channel = BankTransferChannel(bank, BANK_KEY.public_key())
    routing = tmp_path / "routing.toml"
    routing.write_text('[default]\nstrategies = ["health"]\n')
    async with serve(settings, [channel], routing) as served:
        bank.notify_url = f"{served.callbacks_url}/callbacks/{channel.name}"
        try:
            yield BankStack(served, bank, channel)
        finally:
            await bank.close()


async def pay_by_transfer(stack: BankStack, amount_minor: int) -> Payment:
    """A EUR payment by bank transfer, through the request engine; returns its first reply."""
    services = stack.served.services
    merchant_id = stack.served.api.merchant_id
    decision = services.router.decide(
        RouteRequest(merchant_id, "bank_transfer", "EUR", amount_minor, split_key="x")
    )
    assert decision.channel == stack.channel.name
    payment_id = ids.new_id(ids.PAYMENT)
    replies: list[Payment] = []

    async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
        created = Payment(
            id=payment_id,
            merchant_id=merchant_id,
            state=PaymentState.REQUIRES_CONFIRMATION,
            amount=Money(amount_minor, "EUR"),
            amount_captured=Money.zero("EUR"),
            amount_refunded=Money.zero("EUR"),
            capture_method=CaptureMethod.AUTOMATIC,
            confirmation_method=ConfirmationMethod.AUTOMATIC,
            card=None,
            created_at=at,
            updated_at=at,
        )
        approved = RiskAssessment(0, RiskDecision.APPROVE)
        pending = lifecycle.begin_authorization(created, approved, stack.channel.name, at)
        attempt = Attempt(
            id=ids.new_id(ids.ATTEMPT),
            merchant_id=merchant_id,
            payment_id=payment_id,
            operation=ChannelOperation.AUTHORIZE,
            channel=stack.channel.name,
            amount=created.amount,
            capture=True,
        )
        await tx.insert_payment(pending)
        await tx.record_attempt(attempt, at)

        def complete(
            current: Payment, result: ChannelResult, when: datetime
        ) -> tuple[Payment, Payment | PaycoreError]:
            updated = lifecycle.complete_authorization(current, result, when)
            replies.append(updated)
            return updated, updated

        return Plan(payment_id, dispatch=Dispatch(attempt, None, complete))

    encoder: Encoder[Payment] = Encoder(success=lambda p: p.id.encode(), failure=lambda e: b"")
    await services.executor.execute(
        RequestKey(merchant_id, "CreatePayment", ids.new_id("req")),
        RequestIdentity("r", b"f"),
        encoder,
        plan,
    )
    (reply,) = replies
    return reply


async def settled_state(stack: BankStack, payment_id: str) -> PaymentState:
    """The payment's state once the bank's notification settled it (polls with a deadline)."""
    repository = stack.served.services.repository
    merchant_id = stack.served.api.merchant_id
    deadline = time.monotonic() + 10
    while True:
        payment = await repository.get_payment(merchant_id, payment_id)
        assert payment is not None
        if payment.state is not PaymentState.PENDING:
            return payment.state
        assert time.monotonic() < deadline, "the bank's notification never settled the payment"
        await asyncio.sleep(0.05)


async def test_a_transfer_is_pending_until_the_bank_notifies_its_arrival(
    bank_stack: BankStack,
) -> None:
    reply = await pay_by_transfer(bank_stack, 2500)

    assert reply.state is PaymentState.PENDING  # the request answered: waiting for the bank
    assert reply.channel_reference.startswith("bt_")
    assert await settled_state(bank_stack, reply.id) is PaymentState.CAPTURED
    payment = await bank_stack.served.services.repository.get_payment(
        bank_stack.served.api.merchant_id, reply.id
    )
    assert payment is not None
    assert [a.outcome for a in payment.attempts] == ["succeeded"]
    assert payment.amount_captured == Money(2500, "EUR")


async def test_a_rejected_transfer_fails_the_payment(bank_stack: BankStack) -> None:
    reply = await pay_by_transfer(bank_stack, 2599)

    assert await settled_state(bank_stack, reply.id) is PaymentState.FAILED


async def test_a_lost_notification_is_caught_by_the_pending_schedule(
    bank_stack: BankStack,
) -> None:
    bank_stack.bank.notify_url = ""  # the bank settles but never tells
    reply = await pay_by_transfer(bank_stack, 2500)
    deadline = time.monotonic() + 10
    while bank_stack.bank.transfers[reply.attempts[0].id].outcome is AttemptOutcome.PENDING:
        assert time.monotonic() < deadline, "the simulated bank never settled"
        await asyncio.sleep(0.02)  # it settles after 50 ms

    assert await bank_stack.served.services.status_queries.run_once() == 1

    assert await settled_state(bank_stack, reply.id) is PaymentState.CAPTURED


async def test_a_transfer_pending_past_its_schedule_needs_attention(
    bank_stack: BankStack,
) -> None:
    bank_stack.bank._settle_after_s = 3600.0  # the money does not arrive during the test
    reply = await pay_by_transfer(bank_stack, 2500)
    scheduler = bank_stack.served.services.status_queries

    rounds = [await scheduler.run_once() for _ in range(3)]

    assert rounds == [1, 1, 0]  # the compressed pending schedule "0,0": two queries
    payment = await bank_stack.served.services.repository.get_payment(
        bank_stack.served.api.merchant_id, reply.id
    )
    assert payment is not None and payment.state is PaymentState.PENDING
    assert [(a.outcome, a.needs_attention) for a in payment.attempts] == [("pending", True)]


async def test_the_bank_channel_takes_only_its_own_rsa_signature(bank_stack: BankStack) -> None:
    reply = await pay_by_transfer(bank_stack, 2500)
    bank_stack.bank.notify_url = ""
    attempt = reply.id  # any id: the signature is checked first
    body = json.dumps(
        notification_to_wire("ev_x", attempt, ChannelResult(AttemptOutcome.SUCCEEDED))
    ).encode()
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    url = f"{bank_stack.served.callbacks_url}/callbacks/{bank_stack.channel.name}"

    async with ClientSession() as client:
        for header in (sign_rsa(impostor, body, now), sign(b"hmac-secret", body, now)):
            async with client.post(url, data=body, headers={SIGNATURE_HEADER: header}) as answer:
                assert answer.status == 401
    with pytest.raises(BadSignature, match="stale"):
        bank_stack.channel.parse_callback(
            {SIGNATURE_HEADER: sign_rsa(BANK_KEY, body, now - 3600)}, body
        )
