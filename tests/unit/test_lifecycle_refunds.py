"""Refunds and updates of a payment, specified step by step."""

from __future__ import annotations

import dataclasses

import pytest

from core.domain import lifecycle
from core.domain.attempt import AttemptOutcome
from core.domain.errors import Code, IllegalTransitionError, PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import PaymentState, Refund, RefundState
from tests.support.payment_builders import (
    T1,
    T2,
    O,
    S,
    capture_payment,
    make_payment,
    refund_payment,
    result,
    usd,
)

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
