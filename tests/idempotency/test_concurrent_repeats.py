"""Many identical requests at once with one request_id: executed once, answered consistently."""

from __future__ import annotations

import asyncio

import pytest

from paycore.v1 import payment_service_pb2 as svc
from tests.support.answers import single_reply
from tests.support.requests import create_request, manual_capture, new_merchant_id, request_for

from .conftest import StartStack
from .stack import CREATE


@pytest.mark.parametrize("redis", ["up", "down"])
async def test_200_concurrent_identical_creates_make_one_payment_and_one_channel_call(
    private_stack: StartStack, redis: str
) -> None:
    stack = await private_stack()
    merchant = new_merchant_id()
    request = create_request()
    if redis == "down":  # PostgreSQL alone guards the request_id
        await asyncio.to_thread(stack.redis.stop)

    answers = await stack.answers(merchant, request, 200)

    reply = single_reply(answers)
    payment = reply.response(CREATE).payment
    replays = answers.count(reply)
    print(f"\nRedis {redis}: {replays} x the reply, {200 - replays} x REQUEST_IN_PROGRESS")
    assert (stack.stats.fail_open_decisions == 0) == (redis == "up")
    assert await stack.count("payments", merchant) == 1
    assert await stack.count("channel_attempts", merchant) == 1
    assert await stack.count("channel_attempts", merchant, payment_id=payment.id) == 1
    assert await stack.count("idempotency_keys", merchant) == 1
    # Once it is done, a retry gets the very same bytes.
    assert await stack.answer(merchant, request) == reply
    assert [p.id for p in await (await stack.api(merchant)).list_all()] == [payment.id]


async def test_50_concurrent_identical_captures_capture_once(private_stack: StartStack) -> None:
    stack = await private_stack()
    merchant, capture = await stack.capture_to_send()

    reply = single_reply(await stack.answers(merchant, capture, 50))

    assert reply.response(svc.CapturePaymentResponse).payment.amount_captured.units == 10
    assert await stack.count("channel_attempts", merchant, operation="capture") == 1
    assert await stack.answer(merchant, capture) == reply


async def test_50_concurrent_identical_refunds_refund_once(private_stack: StartStack) -> None:
    stack = await private_stack()
    merchant = new_merchant_id()
    api = await stack.api(merchant)
    payment = await api.captured()
    refund = request_for("RefundPayment", payment.id)

    reply = single_reply(await stack.answers(merchant, refund, 50))

    response = reply.response(svc.RefundPaymentResponse)
    assert response.payment.amount_refunded.units == 10
    assert await stack.count("refunds", merchant) == 1
    assert await stack.count("channel_attempts", merchant, operation="refund") == 1
    assert await stack.answer(merchant, refund) == reply


async def test_concurrent_creates_of_two_request_ids_make_two_payments(
    private_stack: StartStack,
) -> None:
    stack = await private_stack()
    merchant = new_merchant_id()
    first, second = create_request(**manual_capture()), create_request(**manual_capture())

    answers = await asyncio.gather(*(stack.answer(merchant, r) for r in [first, second] * 25))

    replies = {single_reply(answers[start::2]) for start in (0, 1)}
    assert len({reply.response(CREATE).payment.id for reply in replies}) == 2
    assert await stack.count("payments", merchant) == 2
