"""A 3-D Secure challenge's transitions: opened, completed, failed, abandoned, late, repeated."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.domain import lifecycle
from core.domain.authentication import (
    AuthenticationFlow,
    AuthenticationStatus,
    Enrollment,
    NextAction,
    RedirectToUrl,
    challenge_result,
    frictionless,
)
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.payment import Payment, PaymentState, RiskAssessment, RiskDecision
from tests.support.payment_builders import APPROVED, T0, T1, T2, S, make_payment

ACTION = NextAction(
    RedirectToUrl("http://acs.test/challenge/pay_1", "https://shop.test/back"),
    expires_at=T0 + timedelta(minutes=10),
)


def challenged() -> Payment:
    return lifecycle.require_action(make_payment(), APPROVED, ACTION, T1)


def test_a_challenge_puts_the_payment_in_requires_action_with_its_redirect() -> None:
    payment = challenged()
    assert payment.state is S.REQUIRES_ACTION
    assert payment.next_action == ACTION
    assert payment.risk == APPROVED
    assert payment.authentication is not None
    assert payment.authentication.status is AuthenticationStatus.CHALLENGE_PENDING
    assert payment.operation_in_flight == ""  # nothing is sent to a channel yet


def test_only_an_approved_payment_is_challenged() -> None:
    review = RiskAssessment(70, RiskDecision.REVIEW)
    with pytest.raises(ValueError, match="REVIEW"):
        lifecycle.require_action(make_payment(), review, ACTION, T1)


@pytest.mark.parametrize(
    "state", [s for s in PaymentState if s is not S.REQUIRES_CONFIRMATION], ids=lambda s: s.name
)
def test_a_challenge_opens_only_on_a_payment_requiring_confirmation(state: PaymentState) -> None:
    with pytest.raises(IllegalTransitionError):
        lifecycle.require_action(make_payment(state), APPROVED, ACTION, T1)


def test_a_completed_challenge_records_the_liability_shift_and_closes_the_action() -> None:
    done = lifecycle.complete_challenge(challenged(), challenge_result(completed=True), T2)
    assert done.state is S.REQUIRES_ACTION
    assert done.next_action is None
    assert done.authentication == challenge_result(completed=True)
    assert done.authentication.liability_shift
    assert done.authentication.eci == "05"


def test_a_completed_challenge_proceeds_to_authorization_with_its_result() -> None:
    done = lifecycle.complete_challenge(challenged(), challenge_result(completed=True), T2)
    pending = lifecycle.begin_authorization(done, APPROVED, "acquirer_a", T2, authenticated=True)
    assert pending.state is S.PENDING
    assert pending.operation_in_flight == "authorize"
    assert pending.authentication == challenge_result(completed=True)


def test_authorization_does_not_begin_while_the_challenge_is_open() -> None:
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.begin_authorization(challenged(), APPROVED, "sandbox", T2, authenticated=True)
    assert raised.value.reason is Reason.PAYMENT_NOT_CONFIRMABLE


def test_a_payment_awaiting_its_customer_is_not_confirmed_again() -> None:
    with pytest.raises(IllegalTransitionError):
        lifecycle.begin_authorization(challenged(), APPROVED, "sandbox", T2)


def test_a_failed_challenge_declines_the_payment_with_its_reason() -> None:
    declined = lifecycle.complete_challenge(challenged(), challenge_result(completed=False), T2)
    assert declined.state is S.DECLINED
    assert declined.failure is not None
    assert declined.failure.code == "authentication_failed"
    assert declined.next_action is None
    assert declined.authentication is not None
    assert not declined.authentication.liability_shift
    assert declined.amount_captured.is_zero()


def test_an_abandoned_challenge_cancels_the_payment_and_holds_nothing() -> None:
    canceled = lifecycle.abandon_challenge(challenged(), T2)
    assert canceled.state is S.CANCELED
    assert canceled.failure is not None
    assert canceled.failure.code == "authentication_abandoned"
    assert canceled.authentication is not None
    assert canceled.authentication.status is AuthenticationStatus.ABANDONED
    assert canceled.next_action is None
    assert canceled.operation_in_flight == ""  # no void: nothing was authorized


def test_the_merchant_may_cancel_a_payment_awaiting_its_customer() -> None:
    canceled = lifecycle.cancel_unconfirmed(challenged(), T2)
    assert canceled.state is S.CANCELED
    assert not lifecycle.needs_void(challenged())


def test_a_challenge_expires_at_its_deadline_not_before() -> None:
    payment = challenged()
    assert not lifecycle.challenge_expired(payment, ACTION.expires_at - timedelta(seconds=1))
    assert lifecycle.challenge_expired(payment, ACTION.expires_at)


@pytest.mark.parametrize("completed", [True, False])
def test_a_repeated_completion_finds_the_challenge_closed(completed: bool) -> None:
    once = lifecycle.complete_challenge(challenged(), challenge_result(completed=completed), T2)
    assert not lifecycle.challenge_open(once)
    with pytest.raises(IllegalTransitionError):
        lifecycle.complete_challenge(once, challenge_result(completed=completed), T2)


def test_a_completion_after_expiry_finds_the_challenge_closed() -> None:
    canceled = lifecycle.abandon_challenge(challenged(), T2)
    assert not lifecycle.challenge_open(canceled)
    assert not lifecycle.challenge_expired(canceled, T2 + timedelta(days=1))
    with pytest.raises(IllegalTransitionError):
        lifecycle.complete_challenge(canceled, challenge_result(completed=True), T2)


def test_an_expiry_after_completion_changes_nothing() -> None:
    done = lifecycle.complete_challenge(challenged(), challenge_result(completed=True), T2)
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.abandon_challenge(done, T2)
    assert raised.value.reason is Reason.PAYMENT_NOT_CANCELABLE


def test_a_challenge_ends_only_succeeded_or_failed() -> None:
    unavailable = frictionless(Enrollment.UNAVAILABLE)
    assert unavailable is not None
    with pytest.raises(ValueError, match="UNAVAILABLE"):
        lifecycle.complete_challenge(challenged(), unavailable, T2)


def test_a_frictionless_answer_is_recorded_before_authorization() -> None:
    result = frictionless(Enrollment.FRICTIONLESS)
    assert result is not None
    authenticated = lifecycle.authenticate_frictionless(make_payment(), result, T1)
    pending = lifecycle.begin_authorization(authenticated, APPROVED, "sandbox", T1)
    assert pending.authentication == result
    assert result.flow is AuthenticationFlow.FRICTIONLESS
    assert result.liability_shift


def test_authentication_unavailable_goes_on_without_liability_shift() -> None:
    result = frictionless(Enrollment.UNAVAILABLE)
    assert result is not None
    assert result.status is AuthenticationStatus.UNAVAILABLE
    assert not result.liability_shift
    assert result.eci == "07"


@pytest.mark.parametrize("enrollment", [Enrollment.NOT_ENROLLED, Enrollment.CHALLENGE])
def test_cards_without_a_frictionless_answer_record_nothing_up_front(
    enrollment: Enrollment,
) -> None:
    assert frictionless(enrollment) is None


def test_a_challenge_with_nowhere_to_return_declines_as_authentication_required() -> None:
    declined = lifecycle.decline_unauthenticated(make_payment(), APPROVED, T1)
    assert declined.state is S.DECLINED
    assert declined.failure is not None
    assert declined.failure.code == "authentication_required"
    assert declined.channel == ""
