"""The amounts' invariants under any sequence of captures and refunds."""

from __future__ import annotations

from itertools import count

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from core.domain import lifecycle
from core.domain.attempt import AttemptOutcome
from core.domain.errors import PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import CaptureMethod, Payment, Refund, RefundState
from tests.support.payment_builders import APPROVED, T1, T2, O, S, make_payment, result, usd

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
