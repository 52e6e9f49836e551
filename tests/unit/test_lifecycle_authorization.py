"""Confirmation and authorization, specified step by step."""

from __future__ import annotations

import dataclasses

import pytest

from core.domain import lifecycle
from core.domain.attempt import AttemptOutcome
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.payment import (
    CaptureMethod,
    Failure,
    Payment,
    PaymentState,
    RiskAssessment,
    RiskDecision,
    RoutingRecord,
)
from tests.support.payment_builders import APPROVED, T1, T2, O, S, make_payment, result, usd

# --- confirmation and authorization -------------------------------------------


def test_begin_authorization_marks_the_payment_pending_with_authorize_in_flight() -> None:
    payment = lifecycle.begin_authorization(make_payment(), APPROVED, "sandbox", T1)
    assert payment.state is S.PENDING
    assert payment.operation_in_flight == "authorize"
    assert payment.channel == "sandbox"
    assert payment.risk == APPROVED
    assert payment.updated_at == T1


def test_begin_authorization_records_the_routing_it_is_given() -> None:
    routing = RoutingRecord(("sandbox", "backup"), ("capable:sandbox,backup", "health:ok"))
    payment = lifecycle.begin_authorization(
        make_payment(), APPROVED, "sandbox", T1, routing=routing
    )
    assert payment.routing == routing
    again = dataclasses.replace(make_payment(), routing=routing)
    assert lifecycle.begin_authorization(again, APPROVED, "sandbox", T1).routing == routing


def test_a_risk_declined_payment_is_never_sent_to_a_channel() -> None:
    declined = RiskAssessment(score=95, decision=RiskDecision.DECLINE)
    with pytest.raises(ValueError):
        lifecycle.begin_authorization(make_payment(), declined, "sandbox", T1)


@pytest.mark.parametrize(
    "state", [s for s in PaymentState if s is not S.REQUIRES_CONFIRMATION], ids=lambda s: s.name
)
def test_authorization_begins_only_from_requires_confirmation(state: PaymentState) -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.begin_authorization(make_payment(state), APPROVED, "sandbox", T1)
    assert raised.value.reason is Reason.PAYMENT_NOT_CONFIRMABLE


def pending_payment(capture_method: CaptureMethod) -> Payment:
    payment = make_payment(capture_method=capture_method)
    return lifecycle.begin_authorization(payment, APPROVED, "sandbox", T1)


def test_successful_authorization_with_automatic_capture_captures_the_whole_amount() -> None:
    payment = lifecycle.complete_authorization(
        pending_payment(CaptureMethod.AUTOMATIC), result(O.SUCCEEDED, "psp_1"), T2
    )
    assert payment.state is S.CAPTURED
    assert payment.amount_captured == payment.amount == usd(10_000)
    assert payment.amount_refunded == usd(0)
    assert payment.operation_in_flight == ""
    assert payment.channel_reference == "psp_1"
    assert payment.updated_at == T2
    assert payment.amount_refundable == usd(10_000)


def test_successful_authorization_with_manual_capture_holds_the_funds() -> None:
    payment = lifecycle.complete_authorization(
        pending_payment(CaptureMethod.MANUAL), result(O.SUCCEEDED, "psp_1"), T2
    )
    assert payment.state is S.AUTHORIZED
    assert payment.amount_captured == usd(0)
    assert payment.amount_capturable == usd(10_000)
    assert payment.operation_in_flight == ""


def test_declined_authorization_is_terminal_and_records_the_failure() -> None:
    failure = Failure("insufficient_funds", "Insufficient funds.")
    payment = lifecycle.complete_authorization(
        pending_payment(CaptureMethod.AUTOMATIC), result(O.DECLINED, "psp_1", failure), T2
    )
    assert payment.state is S.DECLINED
    assert payment.state.is_terminal
    assert payment.failure == failure
    assert payment.amount_captured == usd(0)
    assert payment.operation_in_flight == ""


@pytest.mark.parametrize(
    ("outcome", "state", "code"),
    [(O.DECLINED, S.DECLINED, "card_declined"), (O.FAILED, S.FAILED, "processing_error")],
)
def test_authorization_refused_without_details_gets_a_default_failure(
    outcome: AttemptOutcome, state: PaymentState, code: str
) -> None:
    payment = lifecycle.complete_authorization(
        pending_payment(CaptureMethod.AUTOMATIC), result(outcome), T2
    )
    assert payment.state is state
    assert payment.failure is not None
    assert payment.failure.code == code
    assert payment.failure.message


def test_failed_authorization_is_terminal_and_moves_no_money() -> None:
    payment = lifecycle.complete_authorization(
        pending_payment(CaptureMethod.AUTOMATIC), result(O.FAILED), T2
    )
    assert payment.state is S.FAILED
    assert payment.state.is_terminal
    assert payment.amount_captured == usd(0)
    assert payment.operation_in_flight == ""


def test_unknown_authorization_outcome_stays_pending_with_the_operation_in_flight() -> None:
    pending = pending_payment(CaptureMethod.AUTOMATIC)
    payment = lifecycle.complete_authorization(pending, result(O.UNKNOWN, "psp_1"), T2)
    assert payment.state is S.PENDING
    assert payment.operation_in_flight == "authorize"
    assert payment.amount_captured == usd(0)
    assert payment.channel_reference == "psp_1"
    # A status query settles it later.
    settled = lifecycle.complete_authorization(payment, result(O.SUCCEEDED), T2)
    assert settled.state is S.CAPTURED
    assert settled.channel_reference == "psp_1"


def test_authorization_result_for_a_payment_not_pending_is_refused() -> None:
    with pytest.raises(ValueError):
        lifecycle.complete_authorization(make_payment(S.AUTHORIZED), result(O.SUCCEEDED), T2)


def test_decline_for_risk_declines_without_a_channel() -> None:
    risk = RiskAssessment(score=97, decision=RiskDecision.DECLINE, reasons=("blocked_bin",))
    payment = lifecycle.decline_for_risk(make_payment(), risk, T1)
    assert payment.state is S.DECLINED
    assert payment.state.is_terminal
    assert payment.risk == risk
    assert payment.failure is not None
    assert payment.failure.code == "risk_declined"
    assert payment.channel == ""
    assert payment.operation_in_flight == ""
    assert payment.updated_at == T1
