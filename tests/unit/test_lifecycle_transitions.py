"""Which operation may start in which state."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from core.domain import lifecycle
from core.domain.errors import Code, IllegalTransitionError, PaycoreError, Reason
from core.domain.payment import PaymentState
from tests.support.payment_builders import S, make_payment

# --- which operation may start in which state ---------------------------------

# The specification, written out from the State diagram in payment.proto. If
# lifecycle.TRANSITIONS changes, these tests fail and this table must be
# changed on purpose.
EXPECTED_TRANSITIONS: Mapping[str, tuple[frozenset[PaymentState], Reason]] = {
    "confirm": (frozenset({S.REQUIRES_CONFIRMATION}), Reason.PAYMENT_NOT_CONFIRMABLE),
    "update_amount": (frozenset({S.REQUIRES_CONFIRMATION}), Reason.AMOUNT_NOT_UPDATABLE),
    "capture": (frozenset({S.AUTHORIZED}), Reason.PAYMENT_NOT_CAPTURABLE),
    "cancel": (
        frozenset({S.REQUIRES_CONFIRMATION, S.REQUIRES_REVIEW, S.REQUIRES_ACTION, S.AUTHORIZED}),
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
