"""Idempotency (AIP-155): a request_id executes once; its first reply is the reply forever."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from paycore.v1 import payment_service_pb2 as svc
from tests.support.api import Api
from tests.support.expect import (
    ABORTED,
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    error_info,
    expect_error,
    expect_invalid,
    retry_delay_s,
    rich_status,
)
from tests.support.requests import (
    PAYMENT_RPCS,
    READY_FOR,
    S,
    build,
    changed,
    create_request,
    manual_capture,
    manual_confirmation,
    new_request_id,
    usd,
    wire,
)


async def _failure(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_repeated_create_returns_the_same_bytes_and_makes_one_payment(api: Api) -> None:
    request = create_request(metadata={"b": "2", "a": "1"})

    first = await api.call("CreatePayment", request)
    second = await api.call("CreatePayment", request)

    assert wire(second) == wire(first)
    assert [p.id for p in await api.list_all()] == [first.payment.id]


async def test_repeated_create_replays_the_reply_even_after_the_payment_moved_on(api: Api) -> None:
    request = create_request(**manual_capture())
    first = await api.call("CreatePayment", request)
    await api.capture(first.payment.id)

    again = await api.call("CreatePayment", request)

    assert wire(again) == wire(first)
    assert again.payment.state == S.STATE_AUTHORIZED
    assert (await api.get(first.payment.id)).state == S.STATE_CAPTURED


async def test_map_order_does_not_change_the_request(api: Api) -> None:
    request_id = new_request_id()
    forward = create_request(request_id=request_id, metadata={"a": "1", "b": "2", "c": "3"})
    backward = create_request(request_id=request_id, metadata={"c": "3", "b": "2", "a": "1"})

    first = await api.call("CreatePayment", forward)
    second = await api.call("CreatePayment", backward)

    assert wire(second) == wire(first)


@pytest.mark.parametrize("rpc", sorted(READY_FOR))
async def test_repeated_mutation_executes_once_and_replays_the_same_bytes(
    api: Api, rpc: str
) -> None:
    payment = await api.in_state(READY_FOR[rpc])
    request = PAYMENT_RPCS[rpc](payment.id)

    first = await api.call(rpc, request)
    after_first = await api.get(payment.id)
    second = await api.call(rpc, request)

    assert wire(second) == wire(first)
    after_second = await api.get(payment.id)
    assert wire(after_second) == wire(after_first)
    assert len(after_second.refunds) == (1 if rpc == "RefundPayment" else 0)


@pytest.mark.parametrize(
    ("rpc", "change"),
    [
        ("CapturePayment", {"amount": usd(5)}),
        ("RefundPayment", {"amount": usd(2)}),
        ("CancelPayment", {"reason": "other"}),
        ("UpdatePayment", {"description": "other"}),
    ],
)
async def test_reused_request_id_with_a_different_request_is_refused_and_not_executed(
    api: Api, rpc: str, change: dict[str, Any]
) -> None:
    payment = await api.in_state(READY_FOR[rpc])
    request: Any = PAYMENT_RPCS[rpc](payment.id)
    await api.call(rpc, request)
    before = await api.get(payment.id)
    different = changed(request, **change)

    error = await expect_error(api.call(rpc, different), INVALID_ARGUMENT, "IDEMPOTENCY_KEY_REUSED")

    assert error_info(error).metadata["request_id"] == request.request_id
    assert wire(await api.get(payment.id)) == wire(before)


async def test_reused_create_request_id_with_another_amount_creates_nothing(api: Api) -> None:
    request_id = new_request_id()
    await api.create(request_id=request_id, amount=usd(10))

    await expect_error(
        api.call("CreatePayment", create_request(request_id=request_id, amount=usd(11))),
        INVALID_ARGUMENT,
        "IDEMPOTENCY_KEY_REUSED",
    )

    assert len(await api.list_all()) == 1


async def test_same_request_id_on_different_rpcs_is_independent(api: Api) -> None:
    request_id = new_request_id()

    created = await api.create(request_id=request_id, **manual_capture())
    captured = await api.capture(created.id, request_id=request_id)
    refunded = await api.refund(created.id, usd(1), request_id=request_id)
    updated = await api.update(created.id, description="x", request_id=request_id)

    assert captured.state == S.STATE_CAPTURED
    assert refunded.payment.state == S.STATE_PARTIALLY_REFUNDED
    assert updated.description == "x"


async def test_two_merchants_may_use_the_same_request_id(api: Api, other_api: Api) -> None:
    request = create_request()

    mine = await api.call("CreatePayment", request)
    theirs = await other_api.call("CreatePayment", request)

    assert mine.payment.id != theirs.payment.id
    assert theirs.payment.merchant_id == other_api.merchant_id
    assert len(await api.list_all()) == len(await other_api.list_all()) == 1


async def test_business_error_is_replayed_even_after_the_state_changed(api: Api) -> None:
    payment = await api.create(**manual_confirmation(**manual_capture()))
    capture = build(svc.CapturePaymentRequest, payment_id=payment.id)
    first = await _failure(api.call("CapturePayment", capture))
    await api.confirm(payment.id)

    # The payment is AUTHORIZED now, but the request_id already has its outcome.
    second = await expect_error(
        api.call("CapturePayment", capture), FAILED_PRECONDITION, "PAYMENT_NOT_CAPTURABLE"
    )

    assert wire(rich_status(second)) == wire(rich_status(first))
    assert (await api.get(payment.id)).state == S.STATE_AUTHORIZED


async def test_over_refund_error_is_replayed_identically(api: Api) -> None:
    payment = await api.captured(amount=usd(10))
    refund = build(svc.RefundPaymentRequest, payment_id=payment.id, amount=usd(11))

    first = await expect_error(
        api.call("RefundPayment", refund), FAILED_PRECONDITION, "REFUND_EXCEEDS_CAPTURED"
    )
    second = await _failure(api.call("RefundPayment", refund))

    assert wire(rich_status(second)) == wire(rich_status(first))
    assert (await api.get(payment.id)).amount_refunded == usd(0)


async def test_validation_failure_is_not_stored_against_the_request_id(api: Api) -> None:
    request_id = new_request_id()
    await expect_invalid(
        api.call("CreatePayment", create_request(request_id=request_id, amount=usd(0))), "amount"
    )

    payment = await api.create(request_id=request_id, amount=usd(5))

    assert payment.amount == usd(5)


async def test_not_found_is_replayed_for_the_same_request_id(api: Api) -> None:
    request = build(svc.CancelPaymentRequest, payment_id="pay_" + "0" * 26)

    first = await _failure(api.call("CancelPayment", request))
    second = await _failure(api.call("CancelPayment", request))

    assert wire(rich_status(second)) == wire(rich_status(first))


async def test_concurrent_identical_creates_make_exactly_one_payment(api: Api) -> None:
    request = create_request()

    answers = await asyncio.gather(
        *(api.call("CreatePayment", request) for _ in range(50)), return_exceptions=True
    )

    replies = [a for a in answers if not isinstance(a, BaseException)]
    errors = [a for a in answers if isinstance(a, BaseException)]
    assert replies, errors
    assert {wire(reply) for reply in replies} == {wire(replies[0])}
    for error in errors:
        assert isinstance(error, grpc.aio.AioRpcError), error
        assert (error.code(), error_info(error).reason) == (ABORTED, "REQUEST_IN_PROGRESS")
        assert retry_delay_s(error)
    payments = await api.list_all()
    assert [p.id for p in payments] == [replies[0].payment.id]
    # The retry a client makes after the RetryInfo delay gets the first outcome.
    if errors:
        retried = await api.call("CreatePayment", request)
        assert wire(retried) == wire(replies[0])


async def test_retried_aborted_operation_in_progress_executes_once_the_other_finished(
    api: Api, db: Any
) -> None:
    payment = await api.authorized()
    cancel = build(svc.CancelPaymentRequest, payment_id=payment.id)
    # A capture is at the channel (its answer not committed yet).
    await db.execute(
        "UPDATE payments SET operation_in_flight = 'capture' WHERE merchant_id = $1 AND id = $2",
        api.merchant_id,
        payment.id,
    )
    error = await expect_error(
        api.call("CancelPayment", cancel), ABORTED, "PAYMENT_OPERATION_IN_PROGRESS"
    )
    assert retry_delay_s(error)
    # The capture's answer arrives: refused, the payment is free again.
    await db.execute(
        "UPDATE payments SET operation_in_flight = '' WHERE merchant_id = $1 AND id = $2",
        api.merchant_id,
        payment.id,
    )

    retried = await api.call("CancelPayment", cancel)

    assert retried.payment.state == S.STATE_CANCELED
