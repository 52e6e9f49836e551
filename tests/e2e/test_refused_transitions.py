"""Payment operations refused over the wire: amounts too large or in another currency,
illegal transitions, unknown payments; a refusal changes nothing."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from tests.support.api import Api
from tests.support.expect import (
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    NOT_FOUND,
    expect_error,
    same_payment,
)
from tests.support.requests import PAYMENT_RPCS, S, money, request_for, usd

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
