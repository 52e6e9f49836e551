"""Concurrent operations on one payment end in exactly one legal outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.api import Api
from tests.support.expect import ABORTED, FAILED_PRECONDITION, error_info, retry_delay_s
from tests.support.requests import S, build, usd, wire

LOSING_REASONS = {
    (FAILED_PRECONDITION, "PAYMENT_NOT_CAPTURABLE"),
    (FAILED_PRECONDITION, "PAYMENT_NOT_CANCELABLE"),
    (FAILED_PRECONDITION, "PAYMENT_NOT_CONFIRMABLE"),
    (FAILED_PRECONDITION, "REFUND_EXCEEDS_CAPTURED"),
    (FAILED_PRECONDITION, "PAYMENT_NOT_REFUNDABLE"),
    (ABORTED, "PAYMENT_OPERATION_IN_PROGRESS"),
}


def _assert_lost_legally(error: BaseException) -> None:
    assert isinstance(error, grpc.aio.AioRpcError), repr(error)
    outcome = (error.code(), error_info(error).reason)
    assert outcome in LOSING_REASONS, outcome
    if error.code() == ABORTED:
        assert retry_delay_s(error)


async def _db_amounts(db: Any, api: Api, payment_id: str) -> tuple[str, int, int]:
    row = await db.fetchrow(
        "SELECT state, amount_captured, amount_refunded FROM payments"
        " WHERE merchant_id = $1 AND id = $2",
        api.merchant_id,
        payment_id,
    )
    return row["state"], row["amount_captured"], row["amount_refunded"]


async def _channel_calls(db: Any, api: Api, payment_id: str, operation: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM channel_attempts"
        " WHERE merchant_id = $1 AND payment_id = $2 AND operation = $3",
        api.merchant_id,
        payment_id,
        operation,
    )
    return count


def _the_one_winner(answers: list[Any]) -> Any:
    """The only successful answer; every other one lost with a legal refusal."""
    winners = [a for a in answers if not isinstance(a, BaseException)]
    assert len(winners) == 1, answers
    for answer in answers:
        if answer is not winners[0]:
            _assert_lost_legally(answer)
    return winners[0]


async def test_concurrent_capture_and_cancel_end_in_exactly_one_outcome(api: Api, db: Any) -> None:
    payments = await asyncio.gather(*(api.authorized(amount=usd(10)) for _ in range(10)))

    for payment in payments:
        capture, cancel = await asyncio.gather(
            api.capture(payment.id), api.cancel(payment.id), return_exceptions=True
        )

        winner = _the_one_winner([capture, cancel])
        final = await api.get(payment.id)
        assert wire(final) == wire(winner)
        if winner is capture:
            assert final.state == S.STATE_CAPTURED
            assert await _db_amounts(db, api, payment.id) == ("captured", 1000, 0)
        else:
            assert final.state == S.STATE_CANCELED
            assert await _db_amounts(db, api, payment.id) == ("canceled", 0, 0)


async def test_concurrent_captures_capture_once(api: Api, db: Any) -> None:
    payment = await api.authorized(amount=usd(10))

    winner = _the_one_winner(
        await asyncio.gather(
            *(api.capture(payment.id, usd(i + 1)) for i in range(5)), return_exceptions=True
        )
    )

    assert (await api.get(payment.id)).amount_captured == winner.amount_captured
    assert await _channel_calls(db, api, payment.id, "capture") == 1


async def test_concurrent_confirms_authorize_once(api: Api, db: Any) -> None:
    payment = await api.requires_confirmation()

    winner = _the_one_winner(
        await asyncio.gather(*(api.confirm(payment.id) for _ in range(5)), return_exceptions=True)
    )

    assert winner.state == S.STATE_CAPTURED
    assert wire(await api.get(payment.id)) == wire(winner)
    assert await _channel_calls(db, api, payment.id, "authorize") == 1


async def test_concurrent_refunds_never_exceed_the_captured_amount(api: Api, db: Any) -> None:
    payments = await asyncio.gather(*(api.captured(amount=usd(10)) for _ in range(5)))

    for payment in payments:
        answers = await asyncio.gather(
            *(api.refund(payment.id, usd(3)) for _ in range(6)), return_exceptions=True
        )

        succeeded = [a for a in answers if not isinstance(a, BaseException)]
        for answer in answers:
            if isinstance(answer, BaseException):
                _assert_lost_legally(answer)
        assert 1 <= len(succeeded) <= 3
        final = await api.get(payment.id)
        assert final.amount_refunded == usd(3 * len(succeeded))
        assert final.state == S.STATE_PARTIALLY_REFUNDED
        state, captured, refunded = await _db_amounts(db, api, payment.id)
        assert (state, captured, refunded) == ("partially_refunded", 1000, 300 * len(succeeded))
        assert refunded <= captured


async def test_loser_of_a_capture_cancel_race_gets_a_final_answer_when_retried(api: Api) -> None:
    for _ in range(10):
        payment = await api.authorized()
        capture = build(svc.CapturePaymentRequest, payment_id=payment.id)
        cancel = build(svc.CancelPaymentRequest, payment_id=payment.id)
        answers = await asyncio.gather(
            api.call("CapturePayment", capture),
            api.call("CancelPayment", cancel),
            return_exceptions=True,
        )
        aborted = [
            (rpc, request)
            for rpc, request, answer in zip(
                ("CapturePayment", "CancelPayment"), (capture, cancel), answers, strict=True
            )
            if isinstance(answer, grpc.aio.AioRpcError) and answer.code() == ABORTED
        ]
        if aborted:
            break
    else:
        pytest.skip("no race ended ABORTED in 10 tries")
    ((rpc, request),) = aborted

    # The winner has committed; retrying the loser as AIP-155 says (same request_id)
    # must now get its real answer: the payment is no longer capturable/cancelable.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await api.call(rpc, request)
    assert caught.value.code() == FAILED_PRECONDITION, error_info(caught.value).reason


# --- a refund settled while another operation waits for the payment's row lock ---------------


async def _until_waiting_for_the_payment_lock(db: Any) -> None:
    for _ in range(500):
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE '%FROM payments%FOR UPDATE%'"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the request never waited for the payment's row lock")


async def _refund_settling_while(api: Api, db: Any, amount: int, waiter: Any) -> Any:
    """Run ``waiter`` while a refund of ``amount`` dollars is being settled by another transaction.

    The refund is made through the API, then rewound to the state between its two
    transactions (PENDING, REFUND in flight), and settled again by a transaction
    that does what PaymentService does with the channel's answer (what another
    request or worker does), holding the payment's row lock until ``waiter`` is
    queued behind it. Returns the waiter's outcome (a reply or an exception).
    """
    payment = await api.captured(amount=usd(10))
    refund = (await api.refund(payment.id, usd(amount))).refund
    key = (api.merchant_id, payment.id)
    await db.execute(
        "UPDATE refunds SET state = 'pending' WHERE merchant_id = $1 AND payment_id = $2", *key
    )
    await db.execute(
        "UPDATE payments SET state = 'captured', amount_refunded = 0,"
        " operation_in_flight = 'refund' WHERE merchant_id = $1 AND id = $2",
        *key,
    )
    async with db.acquire() as connection, connection.transaction():
        await connection.execute(
            "SELECT 1 FROM payments WHERE merchant_id = $1 AND id = $2 FOR UPDATE", *key
        )
        await connection.execute(
            "UPDATE refunds SET state = 'succeeded' WHERE merchant_id = $1 AND id = $2",
            api.merchant_id,
            refund.id,
        )
        await connection.execute(
            "UPDATE payments SET state = 'partially_refunded', amount_refunded = $3,"
            " operation_in_flight = '' WHERE merchant_id = $1 AND id = $2",
            *key,
            amount * 100,
        )
        waiting = asyncio.ensure_future(waiter(payment.id))
        await _until_waiting_for_the_payment_lock(db)
    outcome = (await asyncio.gather(waiting, return_exceptions=True))[0]
    return payment.id, outcome


# An operation queued on a payment's row lock while a refund settles must see
# the settled refund (PostgresPayments.lock reads after locking).


async def test_operation_waiting_for_the_lock_does_not_undo_a_settled_refund(
    api: Api, db: Any
) -> None:
    payment_id, second = await _refund_settling_while(
        api, db, 3, lambda payment_id: api.refund(payment_id, usd(3))
    )

    assert not isinstance(second, BaseException), second
    payment = await api.get(payment_id)
    assert payment.amount_refunded == usd(6)
    assert [r.state for r in payment.refunds] == [pb.Refund.STATE_SUCCEEDED] * 2


async def test_refund_of_the_rest_queued_behind_a_settling_refund_succeeds(
    api: Api, db: Any
) -> None:
    payment_id, rest = await _refund_settling_while(api, db, 6, api.refund)

    assert not isinstance(rest, BaseException), rest
    assert rest.refund.amount == usd(4)
    assert (await api.get(payment_id)).state == S.STATE_REFUNDED
