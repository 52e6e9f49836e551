"""The rules file: validation on load, compiled conditions, decisions, shadow mode (pure)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from core.domain.money import Money
from core.domain.payment import CardSummary, RiskDecision
from core.risk.rules_file import default_rules_path, load_rules
from riskengine import (
    FEATURES,
    MerchantLists,
    RiskEngine,
    RulesError,
    Transaction,
    Velocity,
    compute_features,
    parse_rules,
)
from riskengine.features import FeatureSettings

SETTINGS = FeatureSettings(max_amount_minor=1_000_000_00, review_amount_minor=10_000_00)
CARD = CardSummary("visa", "424242", "4242", 12, 2030, "fp_1")


def features(
    amount: int = 1000,
    velocity: Velocity | None = None,
    settings: FeatureSettings = SETTINGS,
    **fields: Any,
) -> dict:
    transaction = Transaction("m", Money(amount, "USD"), CARD, **fields)
    return compute_features(transaction, velocity or Velocity(), MerchantLists(), settings)


def rules(body: str, thresholds: str = "") -> RiskEngine:
    return RiskEngine(parse_rules(thresholds + body))


def test_the_shipped_rules_load_with_about_fifty_rules() -> None:
    rule_set = load_rules(default_rules_path())
    assert len(rule_set.rules) >= 50
    assert len({rule.id for rule in rule_set.rules}) == len(rule_set.rules)
    assert any(rule.shadow for rule in rule_set.rules)
    assert rule_set.bin_countries["424242"] == "US"


def test_every_feature_is_computed_with_its_declared_type() -> None:
    computed = features(customer_id="c", customer_email="A@B.C", ip_address="1.2.3.4")
    assert set(computed) == set(FEATURES)
    for name, kind in FEATURES.items():
        assert type(computed[name]) is kind, name


@pytest.mark.parametrize("amount", [1, 1000, 9_999_99, 10_000_00])
@pytest.mark.parametrize("uses", [1, 10, 60, 1000])
def test_the_shipped_rules_never_hold_card_only_test_traffic(amount: int, uses: int) -> None:
    # Sandbox test traffic: a card and an amount, no customer, email, IP or device;
    # the same card many times a minute (load tests), even after a few declines.
    engine = RiskEngine(load_rules(default_rules_path()))
    counters = {}
    for window in ("1m", "1h", "24h"):
        counters[f"card_count_{window}"] = uses - 1
        counters[f"card_sum_{window}"] = (uses - 1) * amount
    counters["card_declines_1h"] = counters["card_declines_24h"] = 3
    verdict = engine.assess(features(amount, Velocity(counters)))
    assert verdict.assessment.decision is RiskDecision.APPROVE, verdict


def test_a_block_beats_an_allow_which_beats_the_score() -> None:
    body = """
[[rule]]
id = "big"
when = [["amount", ">", 100]]
score = 90
[[rule]]
id = "vip"
when = [["currency", "==", "USD"]]
action = "allow"
[[rule]]
id = "banned"
when = [["card_bin", "in", ["424242"]]]
action = "block"
"""
    assert rules(body).assess(features(1000)).assessment.decision is RiskDecision.DECLINE
    without_block = body.replace('["424242"]', '["000000"]')
    verdict = rules(without_block).assess(features(1000)).assessment
    assert verdict.decision is RiskDecision.APPROVE
    assert verdict.reasons == ("big", "vip")
    assert verdict.score == 90


def test_score_thresholds_and_review_action_decide() -> None:
    body = """
[thresholds]
review = 30
decline = 60
[[rule]]
id = "a"
when = [["amount", ">=", 500]]
score = 35
[[rule]]
id = "b"
when = [["amount", ">=", 5000]]
score = 35
[[rule]]
id = "c"
when = [["amount", "==", 7]]
action = "review"
"""
    engine = rules(body)
    assert engine.assess(features(100)).assessment.decision is RiskDecision.APPROVE
    assert engine.assess(features(700)).assessment.decision is RiskDecision.REVIEW
    declined = engine.assess(features(7000)).assessment
    assert (declined.decision, declined.score) == (RiskDecision.DECLINE, 70)
    assert engine.assess(features(7)).assessment.decision is RiskDecision.REVIEW


def test_a_shadow_rule_is_reported_but_changes_nothing() -> None:
    body = """
[[rule]]
id = "trial"
when = [["amount", ">", 0]]
score = 100
action = "block"
mode = "shadow"
"""
    verdict = rules(body).assess(features(1000))
    assert verdict.assessment.decision is RiskDecision.APPROVE
    assert (verdict.assessment.score, verdict.assessment.reasons) == (0, ())
    assert verdict.shadow == ("trial",)


def test_conditions_compare_features_with_each_other_and_any_of() -> None:
    body = """
[bin_countries]
"42" = "GB"
[[rule]]
id = "mismatch"
when = [["card_country", "!=", { feature = "ip_country" }]]
when_any = [["has_ip", "==", true], ["has_device", "==", true]]
score = 10
"""
    engine = rules(body)
    table = dataclasses.replace(SETTINGS, bin_countries=engine.rules.bin_countries)

    def score(**fields: str) -> int:
        return engine.assess(features(1000, None, table, **fields)).assessment.score

    assert score(ip_address="1.1.1.1", ip_country="US") == 10
    assert score(ip_address="1.1.1.1", ip_country="GB") == 0
    assert score(ip_country="US") == 0  # none of when_any holds


@pytest.mark.parametrize(
    ("op", "fires_at"),
    [
        ("==", {1000}),
        ("!=", {999, 1001}),
        ("<", {999}),
        ("<=", {999, 1000}),
        (">", {1001}),
        (">=", {1000, 1001}),
        ("in", {1000}),
        ("not_in", {999, 1001}),
    ],
)
def test_each_operator_compares_a_feature_with_a_literal(op: str, fires_at: set[int]) -> None:
    operand = "[1000]" if op in ("in", "not_in") else "1000"
    engine = rules(f'[[rule]]\nid = "x"\nwhen = [["amount", "{op}", {operand}]]\nscore = 10')
    fired = {a for a in (999, 1000, 1001) if engine.assess(features(a)).assessment.score == 10}
    assert fired == fires_at


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('[[rule]]\nid = "x"\nwhen = [["amout", ">", 1]]\nscore = 1', "unknown feature 'amout'"),
        (
            '[[rule]]\nid = "x"\nwhen = [["amount", ">", "1"]]\nscore = 1',
            "compared with an integer",
        ),
        ('[[rule]]\nid = "x"\nwhen = [["currency", ">", "A"]]\nscore = 1', "needs an integer"),
        ('[[rule]]\nid = "x"\nwhen = [["amount", "~", 1]]\nscore = 1', "unknown operator"),
        ('[[rule]]\nid = "x"\nwhen = [["has_ip", "==", 1]]\nscore = 1', "true or false"),
        ('[[rule]]\nid = "x"\nwhen = [["amount", "in", 1]]\nscore = 1', "needs a list"),
        ('[[rule]]\nid = "X y"\nwhen = [["amount", ">", 1]]\nscore = 1', "lower_snake_case"),
        ('[[rule]]\nid = "x"\nwhen = [["amount", ">", 1]]', "needs a score or an action"),
        ('[[rule]]\nid = "x"\nwhen = [["amount", ">", 1]]\nscore = 1\naction = "kill"', "action"),
        ('[[rule]]\nid = "x"\nwhen = [["amount", ">", 1]]\nscore = 1\nmode = "dry"', "mode"),
        ('[[rule]]\nid = "x"\nscore = 1', "needs when"),
        ('[[rule]]\nid = "x"\nwhen = [["amount", ">", 1]]\nscore = 1\nwhem = 1', "unknown keys"),
        (
            '[[rule]]\nid = "x"\nwhen = [["amount", ">", 1]]\nscore = 1\n'
            '[[rule]]\nid = "x"\nwhen = [["amount", ">", 2]]\nscore = 1',
            "duplicate id",
        ),
        ("[thresholds]\nreview = 90\ndecline = 10\n", "0 < review <= decline"),
        ('[bin_countries]\n"42" = "usa"\n', "two-letter"),
        ("rule = [", "not valid TOML"),
        ("", "no [[rule]] entries"),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_problem(body: str, problem: str) -> None:
    with pytest.raises(RulesError) as raised:
        parse_rules(body)
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    body = """
[[rule]]
id = "a"
when = [["nope", "==", 1]]
score = 1
[[rule]]
id = "b"
when = [["amount", "==", true]]
score = 1
"""
    with pytest.raises(RulesError) as raised:
        parse_rules(body)
    assert len(raised.value.problems) == 2


def test_a_merchant_initiated_charge_is_no_first_seen_customer_purchase() -> None:
    # The customer was present (and verified the card) when the mandate was set up.
    engine = RiskEngine(load_rules(default_rules_path()))
    big = 2_500_00
    present = engine.assess(features(big, customer_id="cus_1"))
    merchant = engine.assess(features(big, customer_id="cus_1", merchant_initiated=True))
    assert present.assessment.decision is RiskDecision.REVIEW
    assert "amount_outlier_first_seen" not in merchant.assessment.reasons
    assert merchant.assessment.decision is RiskDecision.APPROVE
    assert features(merchant_initiated=True)["merchant_initiated"] is True
