"""Stripe semantics of request_id, scoped per merchant and per RPC, with Redis in front.

Which component answered is made visible with row locks on PostgreSQL
(stack.RowLock): an answer that comes while the request's PostgreSQL record is
locked came from Redis' marker; one that waits for the lock came from
PostgreSQL's claim.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from core.gate.gate import GateClaim
from core.redis.request_gate import request_key
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.answers import Answer
from tests.support.requests import (
    CAPTURE_REFUSED,
    CARD_DECLINED,
    card,
    changed,
    create_request,
    manual_capture,
    new_merchant_id,
    new_request_id,
    request_for,
    usd,
)
from tests.support.row_locks import payment_row, still_waiting

from .conftest import StartStack
from .stack import CREATE, Stack

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
SHORT_LEASE_S = 0.3


def marker(merchant_id: str, request: svc.CreatePaymentRequest) -> str:
    """The Redis key of a create's in-flight marker."""
    return request_key(merchant_id, GateClaim("CreatePayment", request.request_id, b""))


async def marker_expired(stack: Stack, merchant_id: str, request: svc.CreatePaymentRequest) -> None:
    """Wait until Redis has forgotten the request's marker (request_lease_s)."""
    deadline = time.monotonic() + 10 * SHORT_LEASE_S
    while await stack.admin.exists(marker(merchant_id, request)):
        assert time.monotonic() < deadline, "marker outlived its lease"
        await asyncio.sleep(0.05)


def assert_reused(answer: Answer) -> None:
    assert (answer.code, answer.reason) == (INVALID_ARGUMENT, "IDEMPOTENCY_KEY_REUSED")


async def test_mismatch_while_the_marker_lives_is_refused_by_redis(
    private_stack: StartStack,
) -> None:
    stack = await private_stack()
    merchant, request, first = await stack.first_create()

    assert_reused(await stack.via_redis(merchant, changed(request, amount=usd(11))))
    assert await stack.via_redis(merchant, request) == first
    assert await stack.count("payments", merchant) == 1


async def test_mismatch_after_the_marker_expired_is_refused_by_postgresql(
    private_stack: StartStack,
) -> None:
    stack = await private_stack(request_lease_s=SHORT_LEASE_S)
    merchant, request, first = await stack.first_create()
    await marker_expired(stack, merchant, request)

    assert_reused(await stack.via_postgresql(merchant, changed(request, amount=usd(11))))

    # The refused request left no marker behind: the original still replays.
    assert await stack.answer(merchant, request) == first
    await stack.assert_executed_once(merchant)


async def test_replay_after_the_marker_expired_is_answered_by_postgresql(
    private_stack: StartStack,
) -> None:
    stack = await private_stack(request_lease_s=SHORT_LEASE_S)
    merchant, request, first = await stack.first_create()
    await marker_expired(stack, merchant, request)

    assert await stack.via_postgresql(merchant, request) == first
    await stack.assert_executed_once(merchant)


async def test_a_repeat_of_a_request_in_flight_is_aborted_with_retry_info(
    private_stack: StartStack,
) -> None:
    stack = await private_stack()
    merchant, capture = await stack.capture_to_send()

    async with payment_row(stack.db, merchant, capture.payment_id):
        in_flight = await still_waiting(stack.answer(merchant, capture))
        repeat = await asyncio.wait_for(stack.answer(merchant, capture), 5)

    assert repeat.is_in_progress(), repeat
    reply = await in_flight
    assert reply.ok
    assert await stack.answer(merchant, capture) == reply
    assert await stack.count("channel_attempts", merchant, operation="capture") == 1


async def test_two_merchants_may_use_the_same_request_id(private_stack: StartStack) -> None:
    stack = await private_stack()
    merchants = [new_merchant_id(), new_merchant_id()]
    request = create_request()

    answers = [await stack.answer(m, request) for m in merchants]
    again = [await stack.answer(m, request) for m in merchants]

    assert again == answers
    payments = [a.response(CREATE).payment for a in answers]
    assert payments[0].id != payments[1].id
    for merchant in merchants:
        assert await stack.count("payments", merchant) == 1


async def test_one_request_id_on_different_rpcs_is_independent(private_stack: StartStack) -> None:
    stack = await private_stack()
    merchant = new_merchant_id()
    request_id = new_request_id()

    create = await stack.answer(merchant, create_request(request_id=request_id, **manual_capture()))
    payment_id = create.response(CREATE).payment.id
    capture = await stack.answer(
        merchant, request_for("CapturePayment", payment_id, request_id=request_id)
    )
    refund = await stack.answer(
        merchant, request_for("RefundPayment", payment_id, request_id=request_id)
    )

    assert capture.response(svc.CapturePaymentResponse).payment.state == pb.Payment.STATE_CAPTURED
    assert refund.response(svc.RefundPaymentResponse).payment.state == pb.Payment.STATE_REFUNDED
    assert await stack.count("idempotency_keys", merchant, request_id=request_id) == 3


async def test_a_decline_is_replayed_identically(private_stack: StartStack) -> None:
    stack = await private_stack(request_lease_s=SHORT_LEASE_S)
    merchant = new_merchant_id()
    request = create_request(payment_method=card(CARD_DECLINED))

    first = await stack.answer(merchant, request)
    seen = await stack.answer(merchant, request)
    await marker_expired(stack, merchant, request)
    claimed = await stack.answer(merchant, request)

    assert first.response(CREATE).payment.state == pb.Payment.STATE_DECLINED
    assert seen == first
    assert claimed == first
    assert await stack.count("channel_attempts", merchant) == 1


async def test_a_business_error_is_replayed_identically(private_stack: StartStack) -> None:
    stack = await private_stack(request_lease_s=SHORT_LEASE_S)
    merchant = new_merchant_id()
    payment = await (await stack.api(merchant)).authorized(payment_method=card(CAPTURE_REFUSED))
    capture = request_for("CapturePayment", payment.id)

    first = await stack.answer(merchant, capture)
    seen = await stack.answer(merchant, capture)
    await asyncio.sleep(SHORT_LEASE_S * 2)
    claimed = await stack.answer(merchant, capture)

    assert first.reason == "CHANNEL_REFUSED"
    assert seen == first
    assert claimed == first
    assert await stack.count("channel_attempts", merchant, operation="capture") == 1


async def test_a_validation_failure_is_not_stored(private_stack: StartStack) -> None:
    stack = await private_stack()
    merchant = new_merchant_id()
    invalid = create_request(payment_method=card("4242424242424241"))  # bad Luhn check digit

    refused = await stack.answer(merchant, invalid)
    assert (refused.code, refused.reason) == (INVALID_ARGUMENT, "VALIDATION_FAILED")
    assert await stack.count("idempotency_keys", merchant) == 0
    assert not await stack.admin.exists(marker(merchant, invalid))

    fixed = await stack.answer(merchant, changed(invalid, payment_method=card()))
    assert fixed.response(CREATE).payment.state == pb.Payment.STATE_CAPTURED
    assert await stack.count("payments", merchant) == 1


async def test_a_request_id_older_than_the_ttl_is_forgotten(private_stack: StartStack) -> None:
    stack = await private_stack(request_lease_s=SHORT_LEASE_S)
    merchant, request, first = await stack.first_create()
    await marker_expired(stack, merchant, request)
    await stack.db.execute(
        "UPDATE idempotency_keys SET create_time = create_time - make_interval(secs => $2)"
        " WHERE merchant_id = $1",
        merchant,
        float(stack.settings.idempotency_ttl_s + 60),
    )

    again = await stack.answer(merchant, request)

    assert again.ok
    assert again.response(CREATE).payment.id != first.response(CREATE).payment.id
    assert await stack.count("payments", merchant) == 2
