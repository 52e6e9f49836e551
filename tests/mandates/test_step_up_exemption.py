"""Risk-based step-up spares a merchant-initiated charge: no customer is there to authenticate.

A server of its own: payments of 40.00 or more score in the step-up band
(``thresholds.step_up = 20``) and the shipped exemption's rule spares
merchant-initiated charges.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.config import Settings
from paycore.v1 import payment_pb2 as pb
from tests.mandates.conftest import MandateApi, served_merchant, with_risk_rules
from tests.support.api import Api
from tests.support.requests import by_token, usd
from tests.support.serving import serve_paycore

RULES = """
[thresholds]
step_up = 20
review = 50
decline = 80

[[rule]]
id = "medium_amount"
description = "40.00 or more: the customer authenticates"
when = [["amount", ">=", 4000]]
score = 25

[[rule]]
id = "exempt_merchant_initiated"
description = "A merchant-initiated charge: no customer is present to authenticate"
when = [["merchant_initiated", "==", true]]
action = "exempt"
"""


@pytest.fixture
async def apis(
    settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[Api, MandateApi, str, str]]:
    """The payment and mandate APIs of one merchant, its customer and the customer's card token."""
    async with serve_paycore(with_risk_rules(settings, tmp_path, RULES)) as paycore:
        merchant = await served_merchant(paycore)
        token = await merchant.vault.tokenize("4242424242424242")
        yield merchant.api, merchant.mandates, merchant.customer_id, token.id


async def test_a_merchant_initiated_charge_is_exempt_and_the_customer_present_one_is_not(
    apis: tuple[Api, MandateApi, str, str],
) -> None:
    api, mandates, customer_id, token = apis
    mandate = await mandates.setup(customer_id, token)

    charged = await api.create(
        amount=usd(45), mandate_id=mandate.id, off_session=True, payment_method=None
    )
    present = await api.create(amount=usd(45), payment_method=by_token(token))

    assert charged.state == pb.Payment.STATE_CAPTURED
    assert charged.risk.decision == pb.RiskAssessment.DECISION_APPROVE
    assert "exempt_merchant_initiated" in charged.risk.reasons
    # The same card with its customer present is stepped up; a card outside 3-D Secure
    # cannot be challenged, so it is declined.
    assert present.risk.decision == pb.RiskAssessment.DECISION_STEP_UP
    assert (present.state, present.failure.code) == (
        pb.Payment.STATE_DECLINED,
        "authentication_required",
    )
