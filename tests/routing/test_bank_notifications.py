"""Bank transfer notifications: duplicates, late and contradicting ones, signatures, and the one
that never comes (the pending status-query schedule catches it).

Every payment here is made with gRPC CreatePayment and settled by the
SimulatedBank's RSA-signed notification arriving at the real callbacks
ingress (or, when it never arrives, by a status query).
"""

from __future__ import annotations

import json
import time

import pytest
from aiohttp import ClientSession
from cryptography.hazmat.primitives.asymmetric import rsa

from core.domain.attempt import AttemptOutcome, ChannelResult
from core.domain.payment import Failure
from router.channel import BadSignature
from router.channels.acquirer_wire import notification_to_wire
from router.signing import SIGNATURE_HEADER, sign, sign_rsa
from tests.routing.conftest import BankStack
from tests.support.polling import eventually

from .bank import BANK_KEY, S, balances, eur, event_types, notify, pay_by_transfer, settled

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
