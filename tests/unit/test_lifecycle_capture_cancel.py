"""Capture and cancel, specified step by step."""

from __future__ import annotations

import pytest

from core.domain import lifecycle
from core.domain.attempt import AttemptOutcome
from core.domain.errors import Code, IllegalTransitionError, PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import PaymentState
from tests.support.payment_builders import T1, T2, O, S, capture_payment, make_payment, result, usd

# --- capture ------------------------------------------------------------------


def test_capture_without_an_amount_takes_the_whole_authorized_amount() -> None:
    payment = make_payment(S.AUTHORIZED)
    assert lifecycle.plan_capture(payment, None) == usd(10_000)
    captured = capture_payment(payment, None, O.SUCCEEDED)
    assert captured.state is S.CAPTURED
    assert captured.amount_captured == usd(10_000)


def test_partial_capture_captures_less_and_releases_the_rest() -> None:
    payment = capture_payment(make_payment(S.AUTHORIZED), usd(4_000), O.SUCCEEDED)
    assert payment.state is S.CAPTURED
    assert payment.amount == usd(10_000)
    assert payment.amount_captured == usd(4_000)
    assert payment.amount_capturable == usd(0)
    assert payment.amount_refundable == usd(4_000)
    assert payment.operation_in_flight == ""
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.plan_capture(payment, usd(1_000))
    assert raised.value.reason is Reason.PAYMENT_NOT_CAPTURABLE


def test_capture_of_exactly_the_authorized_amount_is_allowed() -> None:
    assert lifecycle.plan_capture(make_payment(S.AUTHORIZED), usd(10_000)) == usd(10_000)


def test_capture_cannot_exceed_the_authorized_amount() -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.plan_capture(make_payment(S.AUTHORIZED), usd(10_001))
    error = raised.value
    assert error.reason is Reason.CAPTURE_EXCEEDS_AUTHORIZED
    assert error.code is Code.FAILED_PRECONDITION
    assert error.metadata["requested"] == "100.01 USD"
    assert error.metadata["capturable"] == "100.00 USD"


def test_capture_in_another_currency_is_a_currency_mismatch() -> None:
    with pytest.raises(PaycoreError) as raised:
        lifecycle.plan_capture(make_payment(S.AUTHORIZED), Money(100, "EUR"))
    error = raised.value
    assert error.reason is Reason.CURRENCY_MISMATCH
    assert error.code is Code.INVALID_ARGUMENT
    assert dict(error.metadata) == {"given": "EUR", "expected": "USD"}


def test_begin_capture_marks_the_capture_in_flight() -> None:
    payment = lifecycle.begin_capture(make_payment(S.AUTHORIZED), T1)
    assert payment.operation_in_flight == "capture"
    assert payment.state is S.AUTHORIZED
    with pytest.raises(PaycoreError) as raised:
        lifecycle.plan_capture(payment, None)
    assert raised.value.reason is Reason.PAYMENT_OPERATION_IN_PROGRESS


@pytest.mark.parametrize("outcome", [O.DECLINED, O.FAILED])
def test_capture_refused_by_the_channel_leaves_the_payment_authorized(
    outcome: AttemptOutcome,
) -> None:
    payment = capture_payment(make_payment(S.AUTHORIZED), usd(4_000), outcome)
    assert payment.state is S.AUTHORIZED
    assert payment.amount_captured == usd(0)
    assert payment.amount_capturable == usd(10_000)
    assert payment.operation_in_flight == ""
    # Another capture may be tried.
    assert lifecycle.plan_capture(payment, None) == usd(10_000)


def test_unknown_capture_outcome_keeps_the_capture_in_flight() -> None:
    payment = capture_payment(make_payment(S.AUTHORIZED), usd(4_000), O.UNKNOWN)
    assert payment.state is S.AUTHORIZED
    assert payment.operation_in_flight == "capture"
    with pytest.raises(PaycoreError) as raised:
        lifecycle.require(payment, "cancel")
    assert raised.value.reason is Reason.PAYMENT_OPERATION_IN_PROGRESS
    settled = lifecycle.complete_capture(payment, usd(4_000), result(O.SUCCEEDED), T2)
    assert settled.state is S.CAPTURED
    assert settled.amount_captured == usd(4_000)


# --- cancel -------------------------------------------------------------------


def test_unconfirmed_payment_is_canceled_without_the_channel() -> None:
    payment = make_payment(S.REQUIRES_CONFIRMATION)
    assert lifecycle.needs_void(payment) is False
    canceled = lifecycle.cancel_unconfirmed(payment, T1)
    assert canceled.state is S.CANCELED
    assert canceled.updated_at == T1


def test_authorized_payment_is_canceled_through_a_void() -> None:
    payment = make_payment(S.AUTHORIZED)
    assert lifecycle.needs_void(payment) is True
    with pytest.raises(ValueError):
        lifecycle.cancel_unconfirmed(payment, T1)


def test_successful_void_cancels_the_payment() -> None:
    voiding = lifecycle.begin_void(make_payment(S.AUTHORIZED), T1)
    assert voiding.operation_in_flight == "void"
    canceled = lifecycle.complete_void(voiding, result(O.SUCCEEDED), T2)
    assert canceled.state is S.CANCELED
    assert canceled.state.is_terminal
    assert canceled.operation_in_flight == ""
    assert canceled.amount_captured == usd(0)


@pytest.mark.parametrize("outcome", [O.DECLINED, O.FAILED])
def test_void_refused_by_the_channel_leaves_the_payment_authorized(
    outcome: AttemptOutcome,
) -> None:
    voiding = lifecycle.begin_void(make_payment(S.AUTHORIZED), T1)
    payment = lifecycle.complete_void(voiding, result(outcome), T2)
    assert payment.state is S.AUTHORIZED
    assert payment.operation_in_flight == ""


def test_unknown_void_outcome_keeps_the_void_in_flight() -> None:
    voiding = lifecycle.begin_void(make_payment(S.AUTHORIZED), T1)
    payment = lifecycle.complete_void(voiding, result(O.UNKNOWN), T2)
    assert payment.state is S.AUTHORIZED
    assert payment.operation_in_flight == "void"


@pytest.mark.parametrize(
    "state", [S.CAPTURED, S.PARTIALLY_REFUNDED, S.PENDING], ids=lambda s: s.name
)
def test_payment_past_authorization_cannot_be_canceled(state: PaymentState) -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.needs_void(make_payment(state))
    assert raised.value.reason is Reason.PAYMENT_NOT_CANCELABLE
