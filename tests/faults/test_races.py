"""Scenario 7: capture, cancel (void) and refund race on one payment: one legal outcome.

For each authorized payment, two captures, two cancels and two refunds (each with
its own request_id, one of them sent twice at once) arrive together. Exactly one
capture or cancel wins; refunds succeed only after a winning capture, never above
what it captured; the loser of each race is told FAILED_PRECONDITION.
"""

from __future__ import annotations

import asyncio

from google.protobuf.message import Message

from paycore.v1 import payment_service_pb2 as svc
from tests.support.requests import create_request, manual_capture, new_request_id, usd

from .conftest import Scenario
from .load import Journal, request_id_of

AMOUNT_USD = 30
REFUND_USD = 10


async def test_capture_cancel_refund_races_end_in_one_legal_outcome(scenario: Scenario) -> None:
    journal = Journal()

    async def send(request: Message) -> None:
        answer = await journal.send(
            scenario.channel, scenario.metadata, request, call_timeout_s=10, retry_for_s=30
        )
        assert answer is not None

    async def race(payment_id: str) -> dict[str, list[Message]]:
        contenders: dict[str, list[Message]] = {
            "capture": [
                svc.CapturePaymentRequest(request_id=new_request_id(), payment_id=payment_id)
                for _ in range(2)
            ],
            "cancel": [
                svc.CancelPaymentRequest(request_id=new_request_id(), payment_id=payment_id)
                for _ in range(2)
            ],
            "refund": [
                svc.RefundPaymentRequest(
                    request_id=new_request_id(), payment_id=payment_id, amount=usd(REFUND_USD)
                )
                for _ in range(2)
            ],
        }
        everyone = [r for group in contenders.values() for r in group]
        # The first capture twice at once, with the same request_id.
        await asyncio.gather(*(send(r) for r in [*everyone, contenders["capture"][0]]))
        return contenders

    payments = []
    for _ in range(scenario.profile.journeys * scenario.profile.rounds):
        created = await journal.send(
            scenario.channel,
            scenario.metadata,
            create_request(**manual_capture(amount=usd(AMOUNT_USD))),
            call_timeout_s=10,
            retry_for_s=30,
        )
        assert created is not None and created.ok
        payments.append(created.response(svc.CreatePaymentResponse).payment.id)
    races = await asyncio.gather(*(race(p) for p in payments))

    books = await scenario.books(journal, "capture/void/refund races")

    outcomes = {"capture": 0, "cancel": 0}
    for payment_id, contenders in zip(payments, races, strict=True):
        won = {
            kind: [r for r in contenders[kind] if journal.answered(request_id_of(r))[0].ok]
            for kind in contenders
        }
        assert len(won["capture"]) + len(won["cancel"]) == 1, (payment_id, won)
        row = await scenario.db.fetchrow(
            "SELECT state, amount_captured, amount_refunded FROM payments"
            " WHERE merchant_id = $1 AND id = $2",
            scenario.merchant_id,
            payment_id,
        )
        refunded = len(won["refund"]) * REFUND_USD * 100
        if won["cancel"]:
            outcomes["cancel"] += 1
            assert not won["refund"]
            assert tuple(row) == ("canceled", 0, 0)
        else:
            outcomes["capture"] += 1
            state = "partially_refunded" if refunded else "captured"
            assert tuple(row) == (state, AMOUNT_USD * 100, refunded)
    assert books.unanswered == 0
    print(f"races: {outcomes['capture']} won by a capture, {outcomes['cancel']} by a cancel")
