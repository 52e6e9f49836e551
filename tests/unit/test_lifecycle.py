"""The payment state machine, specified operation by operation."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from core.domain import lifecycle
from core.domain.attempt import AttemptOutcome, ChannelResult
from core.domain.errors import Code, IllegalTransitionError, PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import (
    CaptureMethod,
    ConfirmationMethod,
    Failure,
    Payment,
    PaymentState,
    Refund,
    RefundState,
    RiskAssessment,
    RiskDecision,
    RoutingRecord,
)

S = PaymentState
O = AttemptOutcome  # noqa: E741

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
T2 = T0 + timedelta(seconds=2)

APPROVED = RiskAssessment(score=12, decision=RiskDecision.APPROVE, reasons=("velocity_ok",))


def usd(amount: int) -> Money:
    return Money(amount, "USD")


def make_payment(
    state: PaymentState = S.REQUIRES_CONFIRMATION,
    *,
    amount: int = 10_000,
    captured: int | None = None,
    refunded: int | None = None,
    capture_method: CaptureMethod = CaptureMethod.MANUAL,
    operation_in_flight: str = "",
    refunds: tuple[Refund, ...] = (),
    currency: str = "USD",
) -> Payment:
    """A payment in ``state`` with amounts that make sense for that state."""
    if captured is None:
        captured = amount if state in {S.CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED} else 0
    if refunded is None:
        refunded = {S.PARTIALLY_REFUNDED: captured // 4, S.REFUNDED: captured}.get(state, 0)
    return Payment(
        id="pay_01TEST",
        merchant_id="m_1",
        state=state,
        amount=Money(amount, currency),
        amount_captured=Money(captured, currency),
        amount_refunded=Money(refunded, currency),
        capture_method=capture_method,
        confirmation_method=ConfirmationMethod.MANUAL,
        card=None,
        created_at=T0,
        updated_at=T0,
        operation_in_flight=operation_in_flight,
        refunds=refunds,
    )


def result(
    outcome: AttemptOutcome, reference: str = "", failure: Failure | None = None
) -> ChannelResult:
    return ChannelResult(outcome=outcome, reference=reference, failure=failure)


_refund_ids = count(1)


def refund_payment(
    payment: Payment, requested: Money | None, outcome: AttemptOutcome
) -> tuple[Payment, Refund]:
    """Plan, begin and complete one refund with the real lifecycle functions."""
    amount = lifecycle.plan_refund(payment, requested)
    refund = Refund(
        id=f"re_{next(_refund_ids)}",
        payment_id=payment.id,
        amount=amount,
        state=RefundState.PENDING,
        reason="requested_by_customer",
        created_at=T1,
    )
    pending = lifecycle.begin_refund(payment, refund, T1)
    return lifecycle.complete_refund(pending, refund.id, result(outcome, f"psp_{refund.id}"), T2)


def capture_payment(payment: Payment, requested: Money | None, outcome: AttemptOutcome) -> Payment:
    amount = lifecycle.plan_capture(payment, requested)
    in_flight = lifecycle.begin_capture(payment, T1)
    return lifecycle.complete_capture(in_flight, amount, result(outcome), T2)


# --- which operation may start in which state ---------------------------------

# The specification, written out from the State diagram in payment.proto. If
# lifecycle.TRANSITIONS changes, these tests fail and this table must be
# changed on purpose.
EXPECTED_TRANSITIONS: Mapping[str, tuple[frozenset[PaymentState], Reason]] = {
    "confirm": (frozenset({S.REQUIRES_CONFIRMATION}), Reason.PAYMENT_NOT_CONFIRMABLE),
    "update_amount": (frozenset({S.REQUIRES_CONFIRMATION}), Reason.AMOUNT_NOT_UPDATABLE),
    "capture": (frozenset({S.AUTHORIZED}), Reason.PAYMENT_NOT_CAPTURABLE),
    "cancel": (
        frozenset({S.REQUIRES_CONFIRMATION, S.REQUIRES_REVIEW, S.AUTHORIZED}),
        Reason.PAYMENT_NOT_CANCELABLE,
    ),
    "decide_review": (frozenset({S.REQUIRES_REVIEW}), Reason.PAYMENT_NOT_IN_REVIEW),
    "refund": (frozenset({S.CAPTURED, S.PARTIALLY_REFUNDED}), Reason.PAYMENT_NOT_REFUNDABLE),
}

STATE_X_OPERATION = [
    pytest.param(state, operation, id=f"{operation}-from-{state.name}")
    for operation in sorted(EXPECTED_TRANSITIONS)
    for state in PaymentState
]


def test_transition_table_covers_exactly_the_specified_operations() -> None:
    assert set(lifecycle.TRANSITIONS) == set(EXPECTED_TRANSITIONS)


@pytest.mark.parametrize(("state", "operation"), STATE_X_OPERATION)
def test_require_allows_an_operation_exactly_in_its_documented_states(
    state: PaymentState, operation: str
) -> None:
    allowed, reason = EXPECTED_TRANSITIONS[operation]
    payment = make_payment(state)
    if state in allowed:
        lifecycle.require(payment, operation)
        return
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.require(payment, operation)
    error = raised.value
    assert error.reason is reason
    assert error.code is Code.FAILED_PRECONDITION
    assert not error.retryable
    assert dict(error.metadata) == {"payment_id": payment.id, "state": state.name}
    assert state.name in error.message
    assert "{" not in error.message


@pytest.mark.parametrize("state", [s for s in PaymentState if s.is_terminal], ids=lambda s: s.name)
def test_terminal_states_allow_no_operation(state: PaymentState) -> None:
    payment = make_payment(state)
    for operation in lifecycle.TRANSITIONS:
        with pytest.raises(IllegalTransitionError):
            lifecycle.require(payment, operation)


def test_terminal_states_are_refunded_canceled_declined_and_failed() -> None:
    assert {s for s in PaymentState if s.is_terminal} == {
        S.REFUNDED,
        S.CANCELED,
        S.DECLINED,
        S.FAILED,
    }


@pytest.mark.parametrize("operation", sorted(EXPECTED_TRANSITIONS))
def test_no_operation_starts_while_a_channel_operation_is_in_flight(operation: str) -> None:
    allowed, _ = EXPECTED_TRANSITIONS[operation]
    state = sorted(allowed, key=lambda s: s.name)[0]
    payment = make_payment(state, operation_in_flight="void")
    with pytest.raises(PaycoreError) as raised:
        lifecycle.require(payment, operation)
    error = raised.value
    assert error.reason is Reason.PAYMENT_OPERATION_IN_PROGRESS
    assert error.code is Code.ABORTED
    assert error.retryable
    assert error.metadata["operation"] == "void"
    assert error.metadata["payment_id"] == payment.id


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


# --- refund -------------------------------------------------------------------


def test_several_partial_refunds_may_add_up_to_the_captured_amount() -> None:
    payment = make_payment(S.CAPTURED)
    payment, first = refund_payment(payment, usd(3_000), O.SUCCEEDED)
    assert first.state is RefundState.SUCCEEDED
    assert payment.state is S.PARTIALLY_REFUNDED
    assert payment.amount_refunded == usd(3_000)
    payment, _ = refund_payment(payment, usd(3_000), O.SUCCEEDED)
    assert payment.state is S.PARTIALLY_REFUNDED
    assert payment.amount_refunded == usd(6_000)
    payment, _ = refund_payment(payment, usd(4_000), O.SUCCEEDED)
    assert payment.state is S.REFUNDED
    assert payment.amount_refunded == usd(10_000)
    assert payment.amount_refundable == usd(0)
    assert [r.state for r in payment.refunds] == [RefundState.SUCCEEDED] * 3


def test_refund_of_the_whole_captured_amount_makes_the_payment_refunded() -> None:
    payment, refund = refund_payment(make_payment(S.CAPTURED), usd(10_000), O.SUCCEEDED)
    assert payment.state is S.REFUNDED
    assert refund.channel_reference == f"psp_{refund.id}"
    assert payment.operation_in_flight == ""


def test_refund_total_is_bounded_by_the_captured_not_the_authorized_amount() -> None:
    payment = capture_payment(make_payment(S.AUTHORIZED), usd(4_000), O.SUCCEEDED)
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.plan_refund(payment, usd(4_001))
    assert raised.value.reason is Reason.REFUND_EXCEEDS_CAPTURED
    payment, _ = refund_payment(payment, usd(4_000), O.SUCCEEDED)
    assert payment.state is S.REFUNDED


def test_refund_cannot_exceed_captured_amount() -> None:
    payment = make_payment(S.CAPTURED)
    payment, _ = refund_payment(payment, usd(7_000), O.SUCCEEDED)
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.plan_refund(payment, usd(3_001))
    error = raised.value
    assert error.reason is Reason.REFUND_EXCEEDS_CAPTURED
    assert error.code is Code.FAILED_PRECONDITION
    assert error.metadata["requested"] == "30.01 USD"
    assert error.metadata["refundable"] == "30.00 USD"


def test_pending_refunds_count_as_already_refunded_when_planning_another() -> None:
    payment, pending = refund_payment(make_payment(S.CAPTURED), usd(6_000), O.UNKNOWN)
    assert pending.state is RefundState.PENDING
    assert payment.state is S.CAPTURED
    assert payment.amount_refunded == usd(0)
    assert payment.amount_refundable == usd(4_000)
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.plan_refund(payment, usd(4_001))
    assert raised.value.reason is Reason.REFUND_EXCEEDS_CAPTURED
    assert lifecycle.plan_refund(payment, None) == usd(4_000)


def test_refund_with_unknown_outcome_does_not_block_other_refunds() -> None:
    payment, _ = refund_payment(make_payment(S.CAPTURED), usd(6_000), O.UNKNOWN)
    assert payment.operation_in_flight == ""
    payment, _ = refund_payment(payment, usd(4_000), O.SUCCEEDED)
    assert payment.state is S.PARTIALLY_REFUNDED
    assert payment.amount_refunded == usd(4_000)
    assert payment.amount_refundable == usd(0)


def test_pending_refund_settled_later_counts_once() -> None:
    payment, pending = refund_payment(make_payment(S.CAPTURED), usd(6_000), O.UNKNOWN)
    payment, settled = lifecycle.complete_refund(payment, pending.id, result(O.SUCCEEDED), T2)
    assert settled.state is RefundState.SUCCEEDED
    assert payment.amount_refunded == usd(6_000)
    assert payment.state is S.PARTIALLY_REFUNDED
    with pytest.raises(ValueError, match="already settled"):
        lifecycle.complete_refund(payment, pending.id, result(O.SUCCEEDED), T2)
    assert payment.amount_refunded == usd(6_000)


@pytest.mark.parametrize("outcome", [O.DECLINED, O.FAILED])
def test_failed_refund_frees_its_amount(outcome: AttemptOutcome) -> None:
    payment, refund = refund_payment(make_payment(S.CAPTURED), usd(6_000), outcome)
    assert refund.state is RefundState.FAILED
    assert payment.state is S.CAPTURED
    assert payment.amount_refunded == usd(0)
    assert payment.amount_refundable == usd(10_000)
    assert payment.refunds == (refund,)
    assert lifecycle.plan_refund(payment, None) == usd(10_000)


def test_refund_without_an_amount_returns_everything_still_refundable() -> None:
    payment, _ = refund_payment(make_payment(S.CAPTURED), usd(3_000), O.SUCCEEDED)
    assert lifecycle.plan_refund(payment, None) == usd(7_000)
    payment, refund = refund_payment(payment, None, O.SUCCEEDED)
    assert refund.amount == usd(7_000)
    assert payment.state is S.REFUNDED


def test_refund_without_an_amount_when_nothing_is_left_raises() -> None:
    payment, _ = refund_payment(make_payment(S.CAPTURED), usd(10_000), O.UNKNOWN)
    assert payment.state is S.CAPTURED
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.plan_refund(payment, None)
    assert raised.value.reason is Reason.REFUND_EXCEEDS_CAPTURED


def test_fully_refunded_payment_cannot_be_refunded_again() -> None:
    payment, _ = refund_payment(make_payment(S.CAPTURED), None, O.SUCCEEDED)
    assert payment.state is S.REFUNDED
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.plan_refund(payment, None)
    assert raised.value.reason is Reason.PAYMENT_NOT_REFUNDABLE


def test_refund_in_another_currency_is_a_currency_mismatch() -> None:
    with pytest.raises(PaycoreError) as raised:
        lifecycle.plan_refund(make_payment(S.CAPTURED), Money(100, "EUR"))
    assert raised.value.reason is Reason.CURRENCY_MISMATCH


def test_begin_refund_refuses_more_than_is_refundable() -> None:
    payment = make_payment(S.CAPTURED)
    too_much = Refund("re_x", payment.id, usd(10_001), RefundState.PENDING, "", T1)
    with pytest.raises(ValueError):
        lifecycle.begin_refund(payment, too_much, T1)


def test_begin_refund_reserves_the_amount_and_marks_the_refund_in_flight() -> None:
    payment = make_payment(S.CAPTURED)
    refund = Refund("re_x", payment.id, usd(2_500), RefundState.PENDING, "", T1)
    pending = lifecycle.begin_refund(payment, refund, T1)
    assert pending.refunds == (refund,)
    assert pending.operation_in_flight == "refund"
    assert pending.amount_refundable == usd(7_500)
    assert pending.amount_refunded == usd(0)


def test_zero_amount_refund_does_not_make_a_payment_partially_refunded() -> None:
    payment = make_payment(S.CAPTURED)
    try:
        payment, _ = refund_payment(payment, usd(0), O.SUCCEEDED)
    except PaycoreError:
        return  # refusing a zero refund is one correct answer
    # Accepting it is another, as long as the state does not claim a refund.
    assert payment.state is S.CAPTURED


# --- update -------------------------------------------------------------------


def test_amount_can_change_before_confirmation() -> None:
    payment = lifecycle.update_details(make_payment(), T1, amount=usd(12_345))
    assert payment.amount == usd(12_345)
    assert payment.state is S.REQUIRES_CONFIRMATION
    assert payment.updated_at == T1


@pytest.mark.parametrize(
    "state", [s for s in PaymentState if s is not S.REQUIRES_CONFIRMATION], ids=lambda s: s.name
)
def test_amount_cannot_change_after_confirmation(state: PaymentState) -> None:
    payment = make_payment(state)
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.update_details(payment, T1, amount=usd(12_345))
    assert raised.value.reason is Reason.AMOUNT_NOT_UPDATABLE


def test_amount_update_in_another_currency_is_a_currency_mismatch() -> None:
    with pytest.raises(PaycoreError) as raised:
        lifecycle.update_details(make_payment(), T1, amount=Money(100, "EUR"))
    assert raised.value.reason is Reason.CURRENCY_MISMATCH


@pytest.mark.parametrize("state", list(PaymentState), ids=lambda s: s.name)
def test_description_and_metadata_can_change_in_any_state(state: PaymentState) -> None:
    before = make_payment(state)
    metadata = {"order": "A-17"}
    after = lifecycle.update_details(before, T1, description="Two mugs", metadata=metadata)
    assert after.description == "Two mugs"
    assert dict(after.metadata) == {"order": "A-17"}
    assert after.state is before.state
    assert after.amount == before.amount
    assert after.amount_captured == before.amount_captured
    assert after.amount_refunded == before.amount_refunded
    # The payment keeps its own frozen copy of the metadata.
    metadata["order"] = "changed"
    assert after.metadata["order"] == "A-17"
    with pytest.raises(TypeError):
        after.metadata["other"] = "x"  # type: ignore[index]


def test_update_changes_only_the_fields_given() -> None:
    before = dataclasses.replace(make_payment(S.CAPTURED), description="old", metadata={"k": "v"})
    after = lifecycle.update_details(before, T1, description="new")
    assert after.description == "new"
    assert dict(after.metadata) == {"k": "v"}
    after = lifecycle.update_details(before, T1, metadata={})
    assert after.description == "old"
    assert dict(after.metadata) == {}


# --- invariants under any sequence of captures and refunds --------------------

FINAL_OUTCOMES = [O.SUCCEEDED, O.DECLINED, O.FAILED]
ANY_OUTCOME = [*FINAL_OUTCOMES, O.UNKNOWN]


class CaptureAndRefundMachine(RuleBasedStateMachine):
    """Random captures, refunds and late channel answers on one payment.

    A model kept alongside (captured, refunded, pending refunds) is the oracle;
    every step goes through the real plan/begin/complete functions.
    """

    def __init__(self) -> None:
        super().__init__()
        self.payment: Payment
        self.captured = 0
        self.refunded = 0
        self.pending: dict[str, int] = {}
        self.capture_in_flight: Money | None = None
        self.refund_ids = count(1)

    @initialize(
        amount=st.integers(min_value=1, max_value=1_000_000),
        capture_method=st.sampled_from(list(CaptureMethod)),
    )
    def authorize(self, amount: int, capture_method: CaptureMethod) -> None:
        payment = make_payment(amount=amount, capture_method=capture_method)
        payment = lifecycle.begin_authorization(payment, APPROVED, "sandbox", T1)
        self.payment = lifecycle.complete_authorization(payment, result(O.SUCCEEDED), T2)
        if capture_method is CaptureMethod.AUTOMATIC:
            self.captured = amount

    def refundable(self) -> int:
        return self.captured - self.refunded - sum(self.pending.values())

    def requested(self, data: st.DataObject, limit: int, boundary: int) -> Money | None:
        """None, any amount up to about twice ``limit``, or just at/over ``boundary``."""
        edges = [n for n in (boundary, boundary + 1) if n > 0]
        return data.draw(
            st.none()
            | st.integers(min_value=1, max_value=2 * limit + 1).map(usd)
            | st.sampled_from(edges).map(usd),
            label="requested",
        )

    @rule(data=st.data(), outcome=st.sampled_from(ANY_OUTCOME))
    def capture(self, data: st.DataObject, outcome: AttemptOutcome) -> None:
        requested = self.requested(data, self.payment.amount.amount, self.payment.amount.amount)
        try:
            amount = lifecycle.plan_capture(self.payment, requested)
        except PaycoreError as error:
            if self.payment.operation_in_flight:
                # An unsettled channel call blocks everything else, whatever the state.
                assert error.reason is Reason.PAYMENT_OPERATION_IN_PROGRESS
            elif self.payment.state is not S.AUTHORIZED:
                assert error.reason is Reason.PAYMENT_NOT_CAPTURABLE
            else:
                assert error.reason is Reason.CAPTURE_EXCEEDS_AUTHORIZED
                assert requested is not None
                assert requested.amount > self.payment.amount.amount
            return
        assert self.payment.state is S.AUTHORIZED
        assert self.capture_in_flight is None
        assert amount == (requested or self.payment.amount)
        payment = lifecycle.begin_capture(self.payment, T1)
        self.payment = lifecycle.complete_capture(payment, amount, result(outcome), T2)
        self.apply_capture(amount, outcome)

    @precondition(lambda self: self.capture_in_flight is not None)
    @rule(outcome=st.sampled_from(FINAL_OUTCOMES))
    def settle_capture(self, outcome: AttemptOutcome) -> None:
        amount = self.capture_in_flight
        assert amount is not None
        self.payment = lifecycle.complete_capture(self.payment, amount, result(outcome), T2)
        self.capture_in_flight = None
        self.apply_capture(amount, outcome)

    def apply_capture(self, amount: Money, outcome: AttemptOutcome) -> None:
        if outcome is O.UNKNOWN:
            self.capture_in_flight = amount
        elif outcome is O.SUCCEEDED:
            self.captured = amount.amount

    @rule(data=st.data(), outcome=st.sampled_from(ANY_OUTCOME))
    def refund(self, data: st.DataObject, outcome: AttemptOutcome) -> None:
        requested = self.requested(data, self.captured, self.refundable())
        try:
            amount = lifecycle.plan_refund(self.payment, requested)
        except PaycoreError as error:
            if self.payment.operation_in_flight:
                # An unsettled channel call blocks everything else, whatever the state.
                assert error.reason is Reason.PAYMENT_OPERATION_IN_PROGRESS
            elif self.payment.state not in {S.CAPTURED, S.PARTIALLY_REFUNDED}:
                assert error.reason is Reason.PAYMENT_NOT_REFUNDABLE
            else:
                assert error.reason is Reason.REFUND_EXCEEDS_CAPTURED
                if requested is None:
                    assert self.refundable() == 0
                else:
                    assert requested.amount > self.refundable()
            return
        assert self.payment.state in {S.CAPTURED, S.PARTIALLY_REFUNDED}
        assert amount == (requested or usd(self.refundable()))
        assert 0 < amount.amount <= self.refundable()
        refund = Refund(
            f"re_{next(self.refund_ids)}", self.payment.id, amount, RefundState.PENDING, "", T1
        )
        payment = lifecycle.begin_refund(self.payment, refund, T1)
        self.payment, settled = lifecycle.complete_refund(payment, refund.id, result(outcome), T2)
        assert settled.amount == amount
        self.pending[refund.id] = amount.amount
        self.apply_refund(refund.id, outcome)

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data(), outcome=st.sampled_from(FINAL_OUTCOMES))
    def settle_refund(self, data: st.DataObject, outcome: AttemptOutcome) -> None:
        refund_id = data.draw(st.sampled_from(sorted(self.pending)), label="refund_id")
        self.payment, settled = lifecycle.complete_refund(
            self.payment, refund_id, result(outcome), T2
        )
        assert settled.id == refund_id
        self.apply_refund(refund_id, outcome)

    def apply_refund(self, refund_id: str, outcome: AttemptOutcome) -> None:
        if outcome is O.UNKNOWN:
            return
        amount = self.pending.pop(refund_id)
        if outcome is O.SUCCEEDED:
            self.refunded += amount

    @invariant()
    def amounts_stay_ordered(self) -> None:
        p = self.payment
        assert 0 <= p.amount_refunded.amount <= p.amount_captured.amount <= p.amount.amount

    @invariant()
    def payment_agrees_with_the_model(self) -> None:
        p = self.payment
        assert p.amount_captured.amount == self.captured
        assert p.amount_refunded.amount == self.refunded
        assert p.amount_refundable.amount == self.refundable() >= 0

    @invariant()
    def refunds_never_exceed_the_captured_amount(self) -> None:
        p = self.payment
        by_state = {state: 0 for state in RefundState}
        for refund in p.refunds:
            by_state[refund.state] += refund.amount.amount
        assert by_state[RefundState.SUCCEEDED] == p.amount_refunded.amount
        assert (
            by_state[RefundState.SUCCEEDED] + by_state[RefundState.PENDING]
            <= p.amount_captured.amount
        )
        assert {r.id for r in p.refunds if r.state is RefundState.PENDING} == set(self.pending)

    @invariant()
    def state_matches_the_amounts(self) -> None:
        p = self.payment
        if self.captured == 0:
            assert p.state is S.AUTHORIZED
            assert p.amount_capturable == p.amount
        elif self.refunded == 0:
            assert p.state is S.CAPTURED
        elif self.refunded == self.captured:
            assert p.state is S.REFUNDED
        else:
            assert p.state is S.PARTIALLY_REFUNDED
        expected_in_flight = "capture" if self.capture_in_flight is not None else ""
        assert p.operation_in_flight == expected_in_flight


TestCaptureAndRefundSequences = CaptureAndRefundMachine.TestCase
