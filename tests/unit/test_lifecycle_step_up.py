"""Risk-based step-up's transitions: risk asks for authentication, the customer passes or not."""

from __future__ import annotations

import pytest

from core.domain import lifecycle
from core.domain.authentication import challenge_result
from core.domain.errors import IllegalTransitionError
from core.domain.payment import RiskAssessment, RiskDecision
from tests.support.payment_builders import T1, T2, S, make_payment
from tests.unit.test_lifecycle_customer_action import ACTION

STEP_UP = RiskAssessment(35, RiskDecision.STEP_UP, ("geo_mismatch",))


def test_a_step_up_opens_a_challenge_keeping_risks_decision() -> None:
    payment = lifecycle.require_action(make_payment(), STEP_UP, ACTION, T1)
    assert payment.state is S.REQUIRES_ACTION
    assert payment.risk == STEP_UP
    assert payment.next_action == ACTION


def test_a_stepped_up_payment_is_sent_once_its_customer_passed() -> None:
    challenged = lifecycle.require_action(make_payment(), STEP_UP, ACTION, T1)
    done = lifecycle.complete_challenge(challenged, challenge_result(completed=True), T2)
    pending = lifecycle.begin_authorization(done, STEP_UP, "acquirer_a", T2, authenticated=True)
    assert pending.state is S.PENDING
    assert pending.risk == STEP_UP  # the record of what risk said


def test_a_stepped_up_payment_is_never_sent_unauthenticated() -> None:
    with pytest.raises(ValueError, match="STEP_UP"):
        lifecycle.begin_authorization(make_payment(), STEP_UP, "acquirer_a", T1)


def test_a_stepped_up_customer_who_fails_is_declined() -> None:
    challenged = lifecycle.require_action(make_payment(), STEP_UP, ACTION, T1)
    failed = lifecycle.complete_challenge(challenged, challenge_result(completed=False), T2)
    assert failed.state is S.DECLINED
    assert failed.failure is not None
    assert failed.failure.code == "authentication_failed"


def test_a_step_up_with_no_way_to_authenticate_declines_as_authentication_required() -> None:
    declined = lifecycle.decline_unauthenticated(make_payment(), STEP_UP, T1)
    assert declined.state is S.DECLINED
    assert declined.risk == STEP_UP
    assert declined.failure is not None
    assert declined.failure.code == "authentication_required"


def test_a_declined_payment_is_not_stepped_up() -> None:
    declined = RiskAssessment(90, RiskDecision.DECLINE)
    with pytest.raises(ValueError, match="DECLINE"):
        lifecycle.require_action(make_payment(), declined, ACTION, T1)
    with pytest.raises(IllegalTransitionError):
        lifecycle.require_action(make_payment(S.PENDING), STEP_UP, ACTION, T1)
