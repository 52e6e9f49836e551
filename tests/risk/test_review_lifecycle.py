"""The review states of the payment state machine (pure)."""

from __future__ import annotations

import pytest

from core.domain import lifecycle
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.payment import PaymentState, RiskAssessment, RiskDecision
from tests.support.payment_builders import T1, make_payment

REVIEW = RiskAssessment(score=60, decision=RiskDecision.REVIEW, reasons=("geo_mismatch",))
APPROVE = RiskAssessment(score=0, decision=RiskDecision.APPROVE)


def test_only_a_review_decision_holds_and_a_held_payment_is_not_sent_unreviewed() -> None:
    held = lifecycle.hold_for_review(make_payment(), REVIEW, T1)
    assert (held.state, held.risk, held.channel) == (PaymentState.REQUIRES_REVIEW, REVIEW, "")
    with pytest.raises(ValueError):
        lifecycle.hold_for_review(make_payment(), APPROVE, T1)
    with pytest.raises(ValueError):
        lifecycle.begin_authorization(held, REVIEW, "sandbox_card", T1)  # not approved
    with pytest.raises(IllegalTransitionError):
        lifecycle.begin_authorization(held, APPROVE, "sandbox_card", T1)  # not confirmable


def test_an_approved_review_is_sent_with_its_review_assessment_kept() -> None:
    held = lifecycle.hold_for_review(make_payment(), REVIEW, T1)
    sent = lifecycle.begin_authorization(held, REVIEW, "sandbox_card", T1, reviewed=True)
    assert (sent.state, sent.risk, sent.operation_in_flight) == (
        PaymentState.PENDING,
        REVIEW,
        "authorize",
    )
    with pytest.raises(IllegalTransitionError):  # a payment never held cannot be "reviewed"
        lifecycle.begin_authorization(make_payment(), REVIEW, "sandbox_card", T1, reviewed=True)


def test_a_rejected_review_is_declined_and_only_held_payments_can_be_decided() -> None:
    held = lifecycle.hold_for_review(make_payment(), REVIEW, T1)
    rejected = lifecycle.reject_review(held, "", T1)
    assert rejected.state is PaymentState.DECLINED
    assert rejected.failure is not None and rejected.failure.code == "risk_rejected"
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.reject_review(rejected, "again", T1)
    assert raised.value.reason is Reason.PAYMENT_NOT_IN_REVIEW


def test_a_held_payment_can_be_canceled_without_a_void() -> None:
    held = lifecycle.hold_for_review(make_payment(), REVIEW, T1)
    assert lifecycle.needs_void(held) is False
    assert lifecycle.cancel_unconfirmed(held, T1).state is PaymentState.CANCELED
