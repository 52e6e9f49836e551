"""The payment lifecycle over the wire: every legal transition, and every illegal one refused."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

import grpc
import pytest

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.api import Api
from tests.support.expect import (
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    NOT_FOUND,
    expect_error,
    same_payment,
)
from tests.support.requests import (
    MASTERCARD,
    PAYMENT_RPCS,
    S,
    build,
    card,
    manual_capture,
    manual_confirmation,
    money,
    request_for,
    usd,
)

REFUND_ID = re.compile(r"re_[0-9A-HJKMNP-TV-Z]{26}")
R = pb.Refund


# --- UpdatePayment ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        S.STATE_REQUIRES_CONFIRMATION,
        S.STATE_AUTHORIZED,
        S.STATE_CAPTURED,
        S.STATE_PARTIALLY_REFUNDED,
        S.STATE_REFUNDED,
        S.STATE_CANCELED,
        S.STATE_DECLINED,
        S.STATE_FAILED,
    ],
    ids=S.State.Name,
)
async def test_description_and_metadata_can_change_in_any_state(api: Api, state: int) -> None:
    payment = await api.in_state(state)

    updated = await api.update(payment.id, description="new text", metadata={"a": "1"})

    assert updated.description == "new text"
    assert dict(updated.metadata) == {"a": "1"}
    assert updated.state == state
    assert updated.amount == payment.amount
    assert updated.create_time == payment.create_time
    assert updated.update_time.ToDatetime(tzinfo=UTC) >= payment.update_time.ToDatetime(tzinfo=UTC)
    assert (await api.get(payment.id)).description == "new text"


async def test_metadata_update_replaces_the_whole_map(api: Api) -> None:
    payment = await api.create(metadata={"keep": "no", "old": "x"})

    updated = await api.update(payment.id, metadata={"new": "y"})

    assert dict(updated.metadata) == {"new": "y"}


async def test_update_mask_changes_only_the_named_fields(api: Api) -> None:
    payment = await api.create(description="before", metadata={"k": "v"})

    updated = await api.update(
        payment.id,
        description="",
        metadata={"ignored": "x"},
        update_mask={"paths": ["description"]},
    )

    assert updated.description == ""
    assert dict(updated.metadata) == {"k": "v"}


async def test_update_mask_can_clear_metadata(api: Api) -> None:
    payment = await api.create(metadata={"k": "v"})

    updated = await api.update(payment.id, update_mask={"paths": ["metadata"]})

    assert dict(updated.metadata) == {}


async def test_amount_can_change_while_requiring_confirmation(api: Api) -> None:
    payment = await api.create(**manual_confirmation(amount=usd(10)))

    updated = await api.update(payment.id, amount=usd(12, 34))
    confirmed = await api.confirm(payment.id)

    assert updated.amount == usd(12, 34)
    assert updated.state == S.STATE_REQUIRES_CONFIRMATION
    assert confirmed.amount_captured == usd(12, 34)


@pytest.mark.parametrize(
    "state",
    [S.STATE_AUTHORIZED, S.STATE_CAPTURED, S.STATE_CANCELED, S.STATE_DECLINED],
    ids=S.State.Name,
)
async def test_amount_cannot_change_after_confirmation(api: Api, state: int) -> None:
    payment = await api.in_state(state)

    await expect_error(
        api.update(payment.id, amount=usd(20), description="also this"),
        FAILED_PRECONDITION,
        "AMOUNT_NOT_UPDATABLE",
    )

    same_payment(payment, await api.get(payment.id))


# --- ConfirmPayment -----------------------------------------------------------------------


async def test_confirm_with_automatic_capture_captures(api: Api) -> None:
    payment = await api.create(**manual_confirmation())

    confirmed = await api.confirm(payment.id)

    assert confirmed.state == S.STATE_CAPTURED
    assert confirmed.amount_captured == payment.amount
    assert confirmed.risk.decision == pb.RiskAssessment.DECISION_APPROVE
    assert confirmed.channel == "sandbox_card"
    assert confirmed.channel_reference.startswith("sbx_")
    assert confirmed.payment_method.card.last4 == "4242"


async def test_confirm_with_manual_capture_authorizes(api: Api) -> None:
    payment = await api.create(**manual_confirmation(**manual_capture()))

    confirmed = await api.confirm(payment.id)

    assert confirmed.state == S.STATE_AUTHORIZED
    assert confirmed.amount_captured == usd(0)


async def test_confirm_replaces_the_payment_method_given_at_creation(api: Api) -> None:
    payment = await api.create(**manual_confirmation(payment_method=card()))

    confirmed = await api.confirm(payment.id, MASTERCARD)

    assert confirmed.payment_method.card.brand == "mastercard"
    assert confirmed.payment_method.card.last4 == "4444"


# --- CapturePayment -----------------------------------------------------------------------


async def test_full_capture_captures_the_authorized_amount(api: Api) -> None:
    payment = await api.authorized(amount=usd(30))

    captured = await api.capture(payment.id)

    assert captured.state == S.STATE_CAPTURED
    assert captured.amount_captured == usd(30)
    assert captured.update_time.ToDatetime() >= payment.update_time.ToDatetime()


async def test_capture_of_exactly_the_authorized_amount(api: Api) -> None:
    payment = await api.authorized(amount=usd(30))

    captured = await api.capture(payment.id, usd(30))

    assert captured.amount_captured == usd(30)


async def test_partial_capture_captures_less_and_releases_the_rest(api: Api) -> None:
    payment = await api.authorized(amount=usd(30))

    captured = await api.capture(payment.id, usd(12, 50))

    assert captured.state == S.STATE_CAPTURED
    assert captured.amount == usd(30)
    assert captured.amount_captured == usd(12, 50)
    await expect_error(
        api.capture(payment.id, usd(1)), FAILED_PRECONDITION, "PAYMENT_NOT_CAPTURABLE"
    )


# --- CancelPayment ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", [S.STATE_REQUIRES_CONFIRMATION, S.STATE_AUTHORIZED], ids=S.State.Name
)
async def test_cancel_before_capture(api: Api, state: int) -> None:
    payment = await api.in_state(state)

    canceled = await api.cancel(payment.id, reason="customer asked")

    assert canceled.state == S.STATE_CANCELED
    assert canceled.amount_captured == usd(0)
    assert (await api.get(payment.id)).state == S.STATE_CANCELED


# --- RefundPayment ------------------------------------------------------------------------


async def test_full_refund_refunds_everything(api: Api) -> None:
    payment = await api.captured(amount=usd(20))

    response = await api.refund(payment.id, usd(20), reason="returned")

    refund = response.refund
    assert REFUND_ID.fullmatch(refund.id), refund.id
    assert refund.payment_id == payment.id
    assert refund.amount == usd(20)
    assert refund.state == R.STATE_SUCCEEDED
    assert refund.reason == "returned"
    assert refund.channel_reference
    assert refund.HasField("create_time")
    assert response.payment.state == S.STATE_REFUNDED
    assert response.payment.amount_refunded == usd(20)


async def test_partial_refunds_up_to_the_total(api: Api) -> None:
    payment = await api.captured(amount=usd(20))

    first = await api.refund(payment.id, usd(5))
    second = await api.refund(payment.id, usd(7, 50))
    third = await api.refund(payment.id, usd(7, 50))

    assert first.payment.state == S.STATE_PARTIALLY_REFUNDED
    assert first.payment.amount_refunded == usd(5)
    assert second.payment.state == S.STATE_PARTIALLY_REFUNDED
    assert second.payment.amount_refunded == usd(12, 50)
    assert third.payment.state == S.STATE_REFUNDED
    assert third.payment.amount_refunded == usd(20)
    assert len({first.refund.id, second.refund.id, third.refund.id}) == 3


async def _captured_20_refunded_6(api: Api) -> str:
    payment = await api.captured(amount=usd(20))
    await api.refund(payment.id, usd(6))
    return payment.id


async def _captured_10_of_30(api: Api) -> str:
    payment = await api.authorized(amount=usd(30))
    await api.capture(payment.id, usd(10))
    return payment.id


@pytest.mark.parametrize(
    ("prepare", "rest", "captured"),
    [(_captured_20_refunded_6, 14, 20), (_captured_10_of_30, 10, 10)],
    ids=["after a partial refund", "after a partial capture"],
)
async def test_refund_without_amount_refunds_the_rest(
    api: Api, prepare: Any, rest: int, captured: int
) -> None:
    payment_id = await prepare(api)
    await expect_error(
        api.refund(payment_id, usd(rest, 1)), FAILED_PRECONDITION, "REFUND_EXCEEDS_CAPTURED"
    )

    response = await api.refund(payment_id)

    assert response.refund.amount == usd(rest)
    assert response.payment.state == S.STATE_REFUNDED
    assert response.payment.amount_refunded == usd(captured)


async def test_get_embeds_refunds_oldest_first(api: Api) -> None:
    payment = await api.captured(amount=usd(20))
    first = (await api.refund(payment.id, usd(1), reason="one")).refund
    second = (await api.refund(payment.id, usd(2), reason="two")).refund

    fetched = await api.get(payment.id)

    assert [r.id for r in fetched.refunds] == [first.id, second.id]
    assert list(fetched.refunds) == [first, second]
    assert fetched.amount_refunded == usd(3)


# --- refused amounts ----------------------------------------------------------------------


EXCEEDS = FAILED_PRECONDITION
MISMATCH = (INVALID_ARGUMENT, "CURRENCY_MISMATCH")
EUR_5 = money(5, 0, "EUR")

# (state, rpc, amount, (code, reason))
REFUSED_AMOUNTS: dict[str, tuple[int, str, Any, tuple[grpc.StatusCode, str]]] = {
    "capture cannot exceed the authorized amount": (
        S.STATE_AUTHORIZED,
        "CapturePayment",
        usd(10, 1),
        (EXCEEDS, "CAPTURE_EXCEEDS_AUTHORIZED"),
    ),
    "refund cannot exceed the captured amount": (
        S.STATE_CAPTURED,
        "RefundPayment",
        usd(10, 1),
        (EXCEEDS, "REFUND_EXCEEDS_CAPTURED"),
    ),
    "refund cannot exceed what is left to refund": (
        S.STATE_PARTIALLY_REFUNDED,
        "RefundPayment",
        usd(9, 1),
        (EXCEEDS, "REFUND_EXCEEDS_CAPTURED"),
    ),
    "capture in another currency": (S.STATE_AUTHORIZED, "CapturePayment", EUR_5, MISMATCH),
    "refund in another currency": (S.STATE_CAPTURED, "RefundPayment", EUR_5, MISMATCH),
    "amount update in another currency": (
        S.STATE_REQUIRES_CONFIRMATION,
        "UpdatePayment",
        EUR_5,
        MISMATCH,
    ),
}


@pytest.mark.parametrize(
    ("state", "rpc", "amount", "refusal"), REFUSED_AMOUNTS.values(), ids=REFUSED_AMOUNTS
)
async def test_refused_amount_changes_nothing(
    api: Api, state: int, rpc: str, amount: Any, refusal: tuple[grpc.StatusCode, str]
) -> None:
    payment = await api.in_state(state)

    await expect_error(api.call(rpc, request_for(rpc, payment.id, amount=amount)), *refusal)

    same_payment(payment, await api.get(payment.id))


# --- illegal transitions ------------------------------------------------------------------


ILLEGAL = [
    ("CapturePayment", S.STATE_CAPTURED, "PAYMENT_NOT_CAPTURABLE"),
    ("CapturePayment", S.STATE_CANCELED, "PAYMENT_NOT_CAPTURABLE"),
    ("CapturePayment", S.STATE_REQUIRES_CONFIRMATION, "PAYMENT_NOT_CAPTURABLE"),
    ("CapturePayment", S.STATE_DECLINED, "PAYMENT_NOT_CAPTURABLE"),
    ("CapturePayment", S.STATE_FAILED, "PAYMENT_NOT_CAPTURABLE"),
    ("CapturePayment", S.STATE_PARTIALLY_REFUNDED, "PAYMENT_NOT_CAPTURABLE"),
    ("CapturePayment", S.STATE_REFUNDED, "PAYMENT_NOT_CAPTURABLE"),
    ("CancelPayment", S.STATE_CAPTURED, "PAYMENT_NOT_CANCELABLE"),
    ("CancelPayment", S.STATE_PARTIALLY_REFUNDED, "PAYMENT_NOT_CANCELABLE"),
    ("CancelPayment", S.STATE_REFUNDED, "PAYMENT_NOT_CANCELABLE"),
    ("CancelPayment", S.STATE_CANCELED, "PAYMENT_NOT_CANCELABLE"),
    ("CancelPayment", S.STATE_DECLINED, "PAYMENT_NOT_CANCELABLE"),
    ("CancelPayment", S.STATE_FAILED, "PAYMENT_NOT_CANCELABLE"),
    ("RefundPayment", S.STATE_AUTHORIZED, "PAYMENT_NOT_REFUNDABLE"),
    ("RefundPayment", S.STATE_CANCELED, "PAYMENT_NOT_REFUNDABLE"),
    ("RefundPayment", S.STATE_REFUNDED, "PAYMENT_NOT_REFUNDABLE"),
    ("RefundPayment", S.STATE_REQUIRES_CONFIRMATION, "PAYMENT_NOT_REFUNDABLE"),
    ("RefundPayment", S.STATE_DECLINED, "PAYMENT_NOT_REFUNDABLE"),
    ("RefundPayment", S.STATE_FAILED, "PAYMENT_NOT_REFUNDABLE"),
    ("ConfirmPayment", S.STATE_AUTHORIZED, "PAYMENT_NOT_CONFIRMABLE"),
    ("ConfirmPayment", S.STATE_CAPTURED, "PAYMENT_NOT_CONFIRMABLE"),
    ("ConfirmPayment", S.STATE_CANCELED, "PAYMENT_NOT_CONFIRMABLE"),
    ("ConfirmPayment", S.STATE_DECLINED, "PAYMENT_NOT_CONFIRMABLE"),
]


@pytest.mark.parametrize(
    ("rpc", "state", "reason"),
    ILLEGAL,
    ids=[f"{rpc}-{S.State.Name(state)}" for rpc, state, _ in ILLEGAL],
)
async def test_illegal_transition_is_refused_and_changes_nothing(
    api: Api, rpc: str, state: int, reason: str
) -> None:
    payment = await api.in_state(state)

    error = await expect_error(
        api.call(rpc, PAYMENT_RPCS[rpc](payment.id)), FAILED_PRECONDITION, reason
    )

    assert payment.id in (error.details() or "")
    same_payment(payment, await api.get(payment.id))


@pytest.mark.parametrize("rpc", sorted(PAYMENT_RPCS))
async def test_unknown_payment_is_not_found(api: Api, rpc: str) -> None:
    unknown = "pay_" + "0" * 26

    await expect_error(api.call(rpc, PAYMENT_RPCS[rpc](unknown)), NOT_FOUND, "PAYMENT_NOT_FOUND")


async def test_a_full_lifecycle_is_reflected_by_get(api: Api) -> None:
    created = await api.create(**manual_confirmation(**manual_capture(amount=usd(50))))
    await api.update(created.id, amount=usd(40))
    await api.confirm(created.id)
    await api.capture(created.id, usd(30))
    await api.refund(created.id, usd(10))
    await api.call(
        "RefundPayment", build(svc.RefundPaymentRequest, payment_id=created.id, reason="rest")
    )

    payment = await api.get(created.id)

    assert payment.state == S.STATE_REFUNDED
    assert (payment.amount, payment.amount_captured, payment.amount_refunded) == (
        usd(40),
        usd(30),
        usd(30),
    )
    assert [r.amount for r in payment.refunds] == [usd(10), usd(20)]
    assert payment.refunds[1].reason == "rest"
