"""Payments in any state, and the lifecycle steps that move them, for pure tests.

Built with the real lifecycle functions (core/domain/lifecycle/), so a test that
starts from ``make_payment(...)`` or ``capture_payment(...)`` starts from a
payment the service could have stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from core.domain import lifecycle
from core.domain.attempt import AttemptOutcome, ChannelResult
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
)
from tests.support.payments import domain_payment

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
    """A payment in ``state`` with amounts that make sense for that state (manual capture)."""
    if captured is None:
        captured = amount if state in {S.CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED} else 0
    if refunded is None:
        refunded = {S.PARTIALLY_REFUNDED: captured // 4, S.REFUNDED: captured}.get(state, 0)
    return domain_payment(
        state,
        id="pay_01TEST",
        amount=Money(amount, currency),
        amount_captured=Money(captured, currency),
        amount_refunded=Money(refunded, currency),
        capture_method=capture_method,
        confirmation_method=ConfirmationMethod.MANUAL,
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
