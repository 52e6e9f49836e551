"""Which refunds the risk engine sends to review (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.domain.payment import PaymentState, RiskAssessment, RiskDecision
from riskengine.engine import refund_needs_a_look
from tests.support.payment_builders import make_payment


@pytest.mark.parametrize(
    ("risk", "held"),
    [
        (None, False),
        (RiskAssessment(10, RiskDecision.APPROVE), False),
        (RiskAssessment(49, RiskDecision.APPROVE), False),
        (RiskAssessment(50, RiskDecision.APPROVE), True),
        (RiskAssessment(20, RiskDecision.REVIEW), True),  # held, then approved by an admin
    ],
)
def test_refunds_on_doubted_payments_need_a_look(risk: RiskAssessment | None, held: bool) -> None:
    payment = replace(make_payment(PaymentState.CAPTURED), risk=risk)

    assert refund_needs_a_look(payment, review_threshold=50) is held
