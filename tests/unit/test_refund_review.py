"""Refund review, pure: when a refund is held, and how a held refund is approved or rejected."""

from __future__ import annotations

import pytest

from core.domain import lifecycle
from core.domain.attempt import AttemptOutcome
from core.domain.errors import Code, IllegalTransitionError, PaycoreError, Reason
from core.domain.merchant_settings import MerchantSettings, MerchantSettingsUpdate
from core.domain.money import Money
from core.domain.payment import Payment, PaymentState, Refund, RefundState
from core.domain.refund_review import NoRefundRiskFlags, refund_needs_review
from tests.support.payment_builders import T1, T2, make_payment, result, usd

S = PaymentState
R = RefundState


# --- the decision -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "threshold", "flagged", "held"),
    [
        pytest.param(usd(10_001), usd(10_000), False, True, id="above-threshold"),
        pytest.param(usd(10_000), usd(10_000), False, False, id="exactly-threshold-passes"),
        pytest.param(usd(9_999), usd(10_000), False, False, id="below-threshold"),
        pytest.param(usd(1), usd(0), False, True, id="zero-threshold-holds-everything"),
        pytest.param(usd(10**9), None, False, False, id="no-threshold"),
        pytest.param(usd(10**9), Money(100, "EUR"), False, False, id="other-currency-threshold"),
        pytest.param(usd(1), None, True, True, id="risk-flag-holds-any-amount"),
        pytest.param(usd(1), usd(10_000), True, True, id="risk-flag-below-threshold"),
    ],
)
def test_refund_needs_review(
    amount: Money, threshold: Money | None, flagged: bool, held: bool
) -> None:
    assert refund_needs_review(amount, threshold, flagged) is held


def test_default_risk_check_flags_nothing() -> None:
    assert NoRefundRiskFlags().flags_refund(make_payment(S.CAPTURED), usd(10**9)) is False


def test_settings_find_the_threshold_of_a_currency() -> None:
    settings = MerchantSettings("m_1", (usd(500), Money(300, "EUR")))
    assert settings.refund_review_threshold("EUR") == Money(300, "EUR")
    assert settings.refund_review_threshold("JPY") is None
    assert MerchantSettings("m_1").refund_review_threshold("USD") is None


def test_settings_refuse_two_thresholds_for_one_currency() -> None:
    with pytest.raises(ValueError):
        MerchantSettings("m_1", (usd(500), usd(600)))


def test_an_update_replaces_only_the_fields_it_names() -> None:
    current = MerchantSettings("m_1", (usd(500),))
    unchanged = MerchantSettingsUpdate("m_1").apply(current, T1)
    cleared = MerchantSettingsUpdate("m_1", refund_review_thresholds=()).apply(current, T1)
    assert unchanged.refund_review_thresholds == (usd(500),)
    assert cleared.refund_review_thresholds == ()
    assert cleared.updated_at == T1


# --- the transitions ------------------------------------------------------------------


def held_refund(payment: Payment, amount: int, refund_id: str = "re_held") -> Refund:
    return Refund(refund_id, payment.id, usd(amount), R.PENDING_REVIEW, "customer", T1)


def holding(amount: int = 8_000, **payment_fields: object) -> tuple[Payment, Refund]:
    payment = make_payment(S.CAPTURED, **payment_fields)  # type: ignore[arg-type]
    refund = held_refund(payment, amount)
    return lifecycle.hold_refund(payment, refund, T1), refund


def test_a_held_refund_reserves_its_amount_but_sends_nothing() -> None:
    payment, refund = holding(8_000)
    assert payment.refunds == (refund,)
    assert payment.state is S.CAPTURED
    assert payment.operation_in_flight == ""
    assert payment.amount_refunded == usd(0)
    assert payment.amount_refundable == usd(2_000)


def test_refunds_never_exceed_captured_with_a_review_pending() -> None:
    payment, _ = holding(8_000)
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.plan_refund(payment, usd(3_000))
    assert raised.value.reason is Reason.REFUND_EXCEEDS_CAPTURED
    assert lifecycle.plan_refund(payment, None) == usd(2_000)


def test_hold_refund_takes_only_a_refund_pending_review_within_refundable() -> None:
    payment = make_payment(S.CAPTURED)
    with pytest.raises(ValueError):
        lifecycle.hold_refund(payment, held_refund(payment, 10_001), T1)
    pending = Refund("re_x", payment.id, usd(1), R.PENDING, "", T1)
    with pytest.raises(ValueError):
        lifecycle.hold_refund(payment, pending, T1)


def test_approve_makes_the_refund_an_ordinary_pending_refund_in_flight() -> None:
    payment, refund = holding(8_000)
    approved_payment, approved = lifecycle.approve_refund(payment, refund.id, T2)
    assert approved.state is R.PENDING
    assert approved_payment.operation_in_flight == "refund"
    assert approved_payment.amount_refundable == usd(2_000)  # still reserved
    assert approved_payment.state is S.CAPTURED


@pytest.mark.parametrize(
    ("outcome", "state", "refund_state", "refunded"),
    [
        (AttemptOutcome.SUCCEEDED, S.PARTIALLY_REFUNDED, R.SUCCEEDED, 8_000),
        (AttemptOutcome.DECLINED, S.CAPTURED, R.FAILED, 0),
        (AttemptOutcome.FAILED, S.CAPTURED, R.FAILED, 0),
    ],
)
def test_an_approved_refund_settles_like_any_refund(
    outcome: AttemptOutcome, state: PaymentState, refund_state: RefundState, refunded: int
) -> None:
    payment, refund = holding(8_000)
    approved_payment, _ = lifecycle.approve_refund(payment, refund.id, T2)
    settled_payment, settled = lifecycle.complete_refund(
        approved_payment, refund.id, result(outcome), T2
    )
    assert (settled_payment.state, settled.state) == (state, refund_state)
    assert settled_payment.amount_refunded == usd(refunded)
    assert settled_payment.operation_in_flight == ""
    assert settled_payment.amount_refundable == usd(10_000 - refunded)


def test_approving_everything_left_makes_the_payment_refunded() -> None:
    payment, refund = holding(10_000)
    approved_payment, _ = lifecycle.approve_refund(payment, refund.id, T2)
    settled, _ = lifecycle.complete_refund(
        approved_payment, refund.id, result(AttemptOutcome.SUCCEEDED), T2
    )
    assert settled.state is S.REFUNDED


def test_reject_frees_the_amount_and_keeps_the_reason() -> None:
    payment, refund = holding(8_000)
    rejected_payment, rejected = lifecycle.reject_refund(payment, refund.id, "fraud", T2)
    assert (rejected.state, rejected.rejection_reason) == (R.REJECTED, "fraud")
    assert rejected_payment.amount_refundable == usd(10_000)
    assert rejected_payment.state is S.CAPTURED
    assert rejected_payment.updated_at == T2


@pytest.mark.parametrize("decide", ["approve", "reject"])
@pytest.mark.parametrize("first", ["approve", "reject"])
def test_a_decided_refund_cannot_be_decided_again(first: str, decide: str) -> None:
    payment, refund = holding(8_000)
    decisions = {
        "approve": lambda p: lifecycle.approve_refund(p, refund.id, T2),
        "reject": lambda p: lifecycle.reject_refund(p, refund.id, "", T2),
    }
    decided, _ = decisions[first](payment)
    with pytest.raises(IllegalTransitionError) as raised:
        decisions[decide](decided)
    assert raised.value.reason is Reason.REFUND_NOT_IN_REVIEW
    assert raised.value.code is Code.FAILED_PRECONDITION


def test_an_ordinary_refund_cannot_be_approved() -> None:
    payment = make_payment(S.CAPTURED)
    pending = Refund("re_x", payment.id, usd(1_000), R.PENDING, "", T1)
    begun = lifecycle.begin_refund(payment, pending, T1)
    with pytest.raises(IllegalTransitionError) as raised:
        lifecycle.approve_refund(begun, "re_x", T2)
    assert raised.value.reason is Reason.REFUND_NOT_IN_REVIEW


def test_approve_waits_for_another_operation_in_flight_but_reject_does_not() -> None:
    payment, refund = holding(5_000)
    other = Refund("re_other", payment.id, usd(1_000), R.PENDING, "", T1)
    busy = lifecycle.begin_refund(payment, other, T1)
    with pytest.raises(PaycoreError) as raised:
        lifecycle.approve_refund(busy, refund.id, T2)
    assert raised.value.reason is Reason.PAYMENT_OPERATION_IN_PROGRESS
    rejected_payment, _ = lifecycle.reject_refund(busy, refund.id, "", T2)
    assert rejected_payment.operation_in_flight == "refund"  # the other refund's marker stays
