"""Risk-based step-up end to end: risk asks for authentication instead of letting through.

Real PostgreSQL, Redis and HTTP. The shipped rules with ``thresholds.step_up = 20``:
a throwaway email (``disposable_email``, 25 points) puts a payment in the step-up
band; the shipped ``exempt_*`` rules spare the customer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.config import ChannelSettings, Settings
from core.risk.rules_file import default_rules_path
from paycore.v1 import payment_pb2 as pb
from tests.routing.conftest import serve
from tests.support.requests import card, usd

from .conftest import CHALLENGE, FRICTIONLESS, ROUTING, ThreeDSStack, post_completion, signed_result

S = pb.Payment
R = pb.RiskAssessment
RISKY = pb.RiskContext(customer_email="buyer@mailinator.com")


@pytest.fixture
async def stepping(
    settings: Settings, tmp_path: Path, return_page: str
) -> AsyncIterator[ThreeDSStack]:
    """A paycore over acquirer_a whose risk rules step up from a score of 20."""
    routing = tmp_path / "routing.toml"
    routing.write_text(ROUTING)
    rules = tmp_path / "rules.toml"
    shipped = default_rules_path().read_text(encoding="utf-8")
    rules.write_text(shipped.replace("[thresholds]\n", "[thresholds]\nstep_up = 20\n", 1))
    changes = {
        "channels": ChannelSettings(three_ds_sweep_interval_s=0.1),
        "risk": settings.risk.model_copy(update={"rules_file": str(rules)}),
    }
    async with serve(settings, None, routing, changes) as served:
        yield ThreeDSStack(served, return_page)


async def risky_payment(
    stack: ThreeDSStack, number: str = FRICTIONLESS, *, return_url: bool = True
) -> pb.Payment:
    """A 50.00 card payment with a throwaway email: in the step-up band, not low value."""
    return await stack.served.api.create(
        amount=usd(50),
        payment_method=card(number),
        risk_context=RISKY,
        return_url=stack.return_url if return_url else "",
    )


async def test_a_stepped_up_card_payment_waits_for_a_challenge_even_if_frictionless(
    stepping: ThreeDSStack,
) -> None:
    payment = await risky_payment(stepping)

    assert payment.state == S.STATE_REQUIRES_ACTION, payment
    assert payment.risk.decision == R.DECISION_STEP_UP
    assert "disposable_email" in payment.risk.reasons
    assert payment.next_action.redirect_to_url.url
    assert stepping.acquirer.charges(payment.id) == 0


async def test_a_stepped_up_customer_who_passes_is_charged_authenticated(
    stepping: ThreeDSStack,
) -> None:
    payment = await risky_payment(stepping, CHALLENGE)
    assert payment.risk.decision == R.DECISION_STEP_UP

    reply = await post_completion(stepping, await signed_result(payment, "complete"))

    assert reply.status == 303
    done = await stepping.served.api.get(payment.id)
    assert done.state == S.STATE_CAPTURED
    assert done.risk.decision == R.DECISION_STEP_UP  # the record of what risk said
    assert done.authentication.liability_shift
    assert stepping.acquirer.charges(payment.id) == 1


async def test_a_stepped_up_customer_who_fails_is_declined_uncharged(
    stepping: ThreeDSStack,
) -> None:
    payment = await risky_payment(stepping)

    await post_completion(stepping, await signed_result(payment, "fail"))

    done = await stepping.served.api.get(payment.id)
    assert done.state == S.STATE_DECLINED
    assert done.failure.code == "authentication_failed"
    assert stepping.acquirer.charges(payment.id) == 0


@pytest.mark.parametrize(
    ("number", "return_url"),
    [(FRICTIONLESS, False), ("4242424242424242", True)],
    ids=["no-return-url", "card-outside-3ds"],
)
async def test_a_step_up_with_no_way_to_authenticate_is_declined_authentication_required(
    stepping: ThreeDSStack, number: str, return_url: bool
) -> None:
    payment = await risky_payment(stepping, number, return_url=return_url)

    assert payment.state == S.STATE_DECLINED
    assert payment.failure.code == "authentication_required"
    assert payment.risk.decision == R.DECISION_STEP_UP
    assert payment.attempts == []


async def test_a_low_value_payment_is_exempt_from_step_up(stepping: ThreeDSStack) -> None:
    payment = await stepping.served.api.create(
        amount=usd(20), payment_method=card(FRICTIONLESS), risk_context=RISKY
    )

    assert payment.state == S.STATE_CAPTURED
    assert payment.risk.decision == R.DECISION_APPROVE
    assert "exempt_low_value" in payment.risk.reasons
    assert payment.authentication.flow == pb.Authentication.FLOW_FRICTIONLESS


async def test_a_payment_outside_the_band_is_not_stepped_up(stepping: ThreeDSStack) -> None:
    payment = await stepping.served.api.create(amount=usd(50), payment_method=card(FRICTIONLESS))

    assert payment.state == S.STATE_CAPTURED
    assert payment.risk.decision == R.DECISION_APPROVE
