"""Which failures the clients repeat, with what request_id, and when they give up."""

from __future__ import annotations

import socket
import time

import grpc
import pytest

from paycore.client import (
    AbortedError,
    AsyncPaycoreClient,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PaycoreClient,
    RetryPolicy,
    UnavailableError,
    money,
)

from .conftest import API_KEY, FAST_RETRY
from .either_client import EitherClient
from .scripted_paycore import ScriptedPaymentService, Stall, paycore_status, unavailable


def request_in_progress(retry_delay: float = 0.0) -> grpc.Status:
    return paycore_status(
        grpc.StatusCode.ABORTED,
        "REQUEST_IN_PROGRESS",
        "A request with this request_id is still executing.",
        retry_delay=retry_delay,
    )


def not_capturable() -> grpc.Status:
    return paycore_status(
        grpc.StatusCode.FAILED_PRECONDITION,
        "PAYMENT_NOT_CAPTURABLE",
        "Payment pay_1 is CANCELED; only an authorized payment can be captured.",
        metadata={"payment_id": "pay_1", "state": "CANCELED"},
    )


async def test_unavailable_is_retried_until_it_succeeds(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.script("CapturePayment", unavailable(), unavailable())

    payment = await client.capture_payment("pay_1")

    assert payment.id == "pay_1"
    assert len(paycore.requests("CapturePayment")) == 3


async def test_retries_reuse_the_same_request_id(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.script("RefundPayment", unavailable(), request_in_progress(), unavailable())

    await client.refund_payment("pay_1", amount=money(100, "USD"))

    ids = {request.request_id for request in paycore.requests("RefundPayment")}
    assert len(paycore.requests("RefundPayment")) == 4
    assert len(ids) == 1
    assert ids != {""}


async def test_retries_keep_the_callers_request_id(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.script("CreatePayment", unavailable())

    await client.create_payment(amount=money(500, "JPY"), request_id="order-42")

    assert [r.request_id for r in paycore.requests("CreatePayment")] == ["order-42", "order-42"]


@pytest.mark.parametrize("reason", ["REQUEST_IN_PROGRESS", "PAYMENT_OPERATION_IN_PROGRESS"])
async def test_aborted_in_progress_is_retried(
    client: EitherClient, paycore: ScriptedPaymentService, reason: str
) -> None:
    paycore.script("CancelPayment", paycore_status(grpc.StatusCode.ABORTED, reason))

    await client.cancel_payment("pay_1")

    assert len(paycore.requests("CancelPayment")) == 2


async def test_aborted_for_another_reason_is_not_retried(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.script("CancelPayment", paycore_status(grpc.StatusCode.ABORTED, "SOMETHING_ELSE"))

    with pytest.raises(AbortedError):
        await client.cancel_payment("pay_1")

    assert len(paycore.requests("CancelPayment")) == 1


async def test_the_retry_waits_at_least_the_servers_retry_delay(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.script("CapturePayment", request_in_progress(retry_delay=0.2))

    started = time.monotonic()
    await client.capture_payment("pay_1")

    assert time.monotonic() - started >= 0.2
    assert len(paycore.requests("CapturePayment")) == 2


async def test_failed_precondition_is_not_retried(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.script("CapturePayment", not_capturable(), not_capturable())

    with pytest.raises(FailedPreconditionError) as raised:
        await client.capture_payment("pay_1")

    assert raised.value.reason == "PAYMENT_NOT_CAPTURABLE"
    assert len(paycore.requests("CapturePayment")) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (
            paycore_status(grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_FAILED"),
            InvalidArgumentError,
        ),
        (paycore_status(grpc.StatusCode.NOT_FOUND, "PAYMENT_NOT_FOUND"), NotFoundError),
    ],
)
async def test_client_mistakes_are_not_retried(
    client: EitherClient,
    paycore: ScriptedPaymentService,
    status: grpc.Status,
    error: type[Exception],
) -> None:
    paycore.script("GetPayment", status, status)

    with pytest.raises(error):
        await client.get_payment("pay_1")

    assert len(paycore.requests("GetPayment")) == 1


async def test_reads_are_retried_on_unavailable(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.script("GetPayment", unavailable())
    paycore.script("ListPayments", unavailable())

    await client.get_payment("pay_1")
    await client.list_payments()

    assert len(paycore.calls) == 4


async def test_retries_give_up_after_max_attempts_with_the_last_error(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.script("CapturePayment", *(unavailable(f"outage {n}") for n in range(1, 6)))

    with pytest.raises(UnavailableError) as raised:
        await client.capture_payment("pay_1")

    assert FAST_RETRY.max_attempts == 4
    assert len(paycore.requests("CapturePayment")) == 4
    assert raised.value.message == "outage 4"
    assert raised.value.reason == "SERVICE_UNAVAILABLE"
    assert isinstance(raised.value.__cause__, grpc.RpcError)


async def test_giving_up_reports_the_servers_retry_delay(
    paycore: ScriptedPaymentService, target: str
) -> None:
    paycore.script("CapturePayment", request_in_progress(retry_delay=0.5))
    once = RetryPolicy(max_attempts=1)

    async with AsyncPaycoreClient(target, api_key=API_KEY, retry=once) as client:
        started = time.monotonic()
        with pytest.raises(AbortedError) as raised:
            await client.capture_payment("pay_1")

    assert time.monotonic() - started < 0.5
    assert raised.value.retry_after == 0.5
    assert raised.value.reason == "REQUEST_IN_PROGRESS"


def test_a_write_that_ran_out_of_time_is_repeated_with_the_same_request_id(
    paycore: ScriptedPaymentService, target: str
) -> None:
    paycore.script("CapturePayment", Stall(1.0))

    with PaycoreClient(target, api_key=API_KEY, retry=FAST_RETRY, timeout=0.2) as client:
        payment = client.capture_payment("pay_1")

    assert payment.id == "pay_1"
    first, second = paycore.requests("CapturePayment")
    assert first.request_id == second.request_id


async def test_an_async_write_that_ran_out_of_time_is_repeated_with_the_same_request_id(
    paycore: ScriptedPaymentService, target: str
) -> None:
    paycore.script("CreatePayment", Stall(1.0))

    async with AsyncPaycoreClient(target, api_key=API_KEY, retry=FAST_RETRY, timeout=0.2) as client:
        await client.create_payment(amount=money(1, "USD"))

    first, second = paycore.requests("CreatePayment")
    assert first.request_id == second.request_id


def _closed_port_target() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def test_an_unreachable_server_raises_unavailable_without_a_reason() -> None:
    retry = RetryPolicy(max_attempts=2, initial_backoff=0.001, max_backoff=0.001)

    client = PaycoreClient(_closed_port_target(), api_key=API_KEY, retry=retry)
    with client, pytest.raises(UnavailableError) as raised:
        client.get_payment("pay_1")

    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert raised.value.reason == ""
    assert raised.value.field_violations == ()
