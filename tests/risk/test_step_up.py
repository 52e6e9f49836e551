"""Risk-based step-up: a score band that asks for authentication, and exemptions (pure)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from core.domain.payment import RiskDecision
from core.risk.rules_file import default_rules_path, load_rules, rules_view
from riskengine import RiskEngine, RulesError, Velocity, parse_rules
from tests.risk.test_rules import features, rules

BAND = """
[thresholds]
step_up = 20
review = 50
decline = 80
[[rule]]
id = "medium"
when = [["amount", ">=", 5000]]
score = 25
[[rule]]
id = "high"
when = [["amount", ">=", 50000]]
score = 30
[[rule]]
id = "huge"
when = [["amount", ">=", 500000]]
score = 30
"""


def test_a_score_from_step_up_to_review_asks_for_authentication() -> None:
    engine = rules(BAND)
    assert engine.assess(features(1000)).assessment.decision is RiskDecision.APPROVE
    stepped = engine.assess(features(5000)).assessment
    assert (stepped.decision, stepped.score, stepped.reasons) == (
        RiskDecision.STEP_UP,
        25,
        ("medium",),
    )
    assert engine.assess(features(50000)).assessment.decision is RiskDecision.REVIEW
    assert engine.assess(features(500000)).assessment.decision is RiskDecision.DECLINE


def test_without_a_step_up_threshold_the_band_is_approved() -> None:
    engine = rules(BAND.replace("step_up = 20\n", ""))
    assert engine.rules.step_up_threshold == 0
    assert engine.assess(features(5000)).assessment.decision is RiskDecision.APPROVE


def test_an_exempt_rule_spares_the_step_up_and_nothing_else() -> None:
    exempt = """
[[rule]]
id = "vip"
when = [["customer_tx_count", ">=", 5]]
action = "exempt"
"""
    engine = rules(BAND + exempt)
    trusted = Velocity(customer_tx_count=9, customer_amount_sum=9 * 5000)
    spared = engine.assess(features(5000, trusted, customer_id="c")).assessment
    assert (spared.decision, spared.reasons) == (RiskDecision.APPROVE, ("medium", "vip"))
    # Exempt from authentication only: a review or a decline stands.
    assert (
        engine.assess(features(50000, trusted, customer_id="c")).assessment.decision
        is RiskDecision.REVIEW
    )
    assert (
        engine.assess(features(500000, trusted, customer_id="c")).assessment.decision
        is RiskDecision.DECLINE
    )


def test_a_shadow_exemption_spares_nothing() -> None:
    shadow = """
[[rule]]
id = "trial_exemption"
when = [["amount", ">=", 1]]
action = "exempt"
mode = "shadow"
"""
    verdict = rules(BAND + shadow).assess(features(5000))
    assert verdict.assessment.decision is RiskDecision.STEP_UP
    assert verdict.shadow == ("trial_exemption",)


@pytest.mark.parametrize("step_up", ["51", "-1", "true", '"20"'])
def test_a_step_up_threshold_outside_zero_to_review_is_refused(step_up: str) -> None:
    with pytest.raises(RulesError) as raised:
        parse_rules(BAND.replace("step_up = 20", f"step_up = {step_up}"))
    assert any("step_up" in problem for problem in raised.value.problems)


def shipped_with_step_up(threshold: int) -> RiskEngine:
    """The shipped rules with step-up switched on (they ship it off)."""
    shipped = load_rules(default_rules_path())
    assert shipped.step_up_threshold == 0
    return RiskEngine(dataclasses.replace(shipped, step_up_threshold=threshold))


def test_the_shipped_exemptions_spare_low_value_merchant_initiated_and_trusted() -> None:
    engine = shipped_with_step_up(10)
    risky: dict[str, Any] = {"customer_id": "cus_1", "customer_email": "x@mailinator.com"}
    newish = Velocity(customer_tx_count=1, customer_amount_sum=5000)
    trusted = Velocity(customer_tx_count=6, customer_amount_sum=6 * 5000)

    def decision(amount: int, velocity: Velocity, **extra: Any) -> RiskDecision:
        return engine.assess(features(amount, velocity, **risky, **extra)).assessment.decision

    assert decision(5000, newish) is RiskDecision.STEP_UP
    assert decision(2999, newish) is RiskDecision.APPROVE  # exempt_low_value
    assert decision(5000, newish, merchant_initiated=True) is RiskDecision.APPROVE
    assert decision(5000, trusted) is RiskDecision.APPROVE  # exempt_trusted_customer
    # Not trusted once its card was declined today.
    declined = dataclasses.replace(trusted, counters={"card_declines_24h": 1})
    assert decision(5000, declined) is RiskDecision.STEP_UP


def test_the_audit_view_shows_the_step_up_threshold() -> None:
    assert rules_view(rules(BAND).rules)["step_up_threshold"] == 20
