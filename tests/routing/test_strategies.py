"""Routing strategies, one by one and chained: pure functions, no servers."""

from __future__ import annotations

from collections import Counter

import pytest

from router.routing import (
    ChannelProfile,
    CostBased,
    HealthBased,
    HealthView,
    RouteRequest,
    RoutingContext,
    Rule,
    Rules,
    Strategy,
    WeightedSplit,
    decide,
)

A = ChannelProfile(
    "a",
    currencies=frozenset({"USD", "EUR"}),
    brands=frozenset({"visa", "mastercard"}),
    max_amount_minor=100_000,
    fee_bps=150,
    fee_fixed_minor=20,
)
B = ChannelProfile("b", fee_bps=290, fee_fixed_minor=30)
C = ChannelProfile("c", fee_bps=100, fee_fixed_minor=100)
PROFILES = {"a": A, "b": B, "c": C}
CONTEXT = RoutingContext(PROFILES)


def request(**fields: object) -> RouteRequest:
    """A 10.00 USD visa card payment unless fields say otherwise."""
    values: dict[str, object] = {
        "merchant_id": "m_1",
        "method": "card",
        "currency": "USD",
        "amount_minor": 1000,
        "brand": "visa",
        "bin": "424242",
        "split_key": "pay_1",
    }
    values.update(fields)
    return RouteRequest(**values)  # type: ignore[arg-type]


# --- capabilities -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "capable"),
    [
        ({}, ("a", "b", "c")),
        ({"currency": "JPY"}, ("b", "c")),
        ({"brand": "amex"}, ("b", "c")),
        ({"amount_minor": 100_001}, ("b", "c")),
        ({"method": "bank_transfer"}, ()),
    ],
)
def test_only_channels_that_can_carry_the_payment_are_candidates(
    fields: dict[str, object], capable: tuple[str, ...]
) -> None:
    assert decide(request(**fields), (), CONTEXT).candidates == capable


def test_a_payment_nothing_can_carry_has_no_channel() -> None:
    decision = decide(request(method="wallet"), (CostBased(),), CONTEXT)

    assert decision.channel is None
    assert decision.steps == ("capable:none",)


# --- rules ----------------------------------------------------------------------------


RULES = Rules(
    (
        Rule("big-eur", ("c", "b"), currencies=frozenset({"EUR"}), min_amount_minor=50_000),
        Rule("test-bins", ("b",), bins=("4000",)),
        Rule("german-cards", ("c",), countries=frozenset({"DE"})),
        Rule("vip", ("a",), merchants=frozenset({"m_vip"}), max_amount_minor=5_000),
        Rule("cards", ("a", "b"), methods=frozenset({"card"})),
    )
)


@pytest.mark.parametrize(
    ("fields", "rule", "candidates"),
    [
        ({"currency": "EUR", "amount_minor": 60_000}, "big-eur", ("c", "b")),
        ({"currency": "EUR", "amount_minor": 40_000}, "cards", ("a", "b")),
        ({"bin": "400000"}, "test-bins", ("b",)),
        ({"country": "DE"}, "german-cards", ("c",)),
        ({"merchant_id": "m_vip", "amount_minor": 5_000}, "vip", ("a",)),
        ({"merchant_id": "m_vip", "amount_minor": 5_001}, "cards", ("a", "b")),
    ],
)
def test_the_first_matching_rule_names_the_channels_in_its_order(
    fields: dict[str, object], rule: str, candidates: tuple[str, ...]
) -> None:
    decision = decide(request(**fields), (RULES,), CONTEXT)

    assert decision.candidates == candidates
    assert decision.steps[-1] == f"rule:{rule}"


def test_a_rule_cannot_name_a_channel_that_cannot_carry_the_payment() -> None:
    rules = Rules((Rule("a-only", ("a",)),))

    assert decide(request(brand="amex"), (rules,), CONTEXT).candidates == ()


def test_no_matching_rule_leaves_the_candidates_unchanged() -> None:
    rules = Rules((Rule("eur", ("c",), currencies=frozenset({"EUR"})),))

    decision = decide(request(), (rules,), CONTEXT)

    assert decision.candidates == ("a", "b", "c")
    assert decision.steps[-1] == "rules:no match"


# --- weighted split -----------------------------------------------------------------


def test_a_weighted_split_sends_shares_of_payments_first_to_each_channel() -> None:
    split = WeightedSplit({"a": 70, "b": 30})

    firsts = Counter(
        decide(request(split_key=f"pay_{i}"), (split,), CONTEXT).channel for i in range(2000)
    )

    assert set(firsts) == {"a", "b"}
    assert 1200 < firsts["a"] < 1600  # 70% of 2000 = 1400, with room for hashing noise


def test_a_split_is_stable_for_a_payment_and_keeps_the_others_as_failover() -> None:
    split = WeightedSplit({"a": 50, "b": 50})

    decisions = {decide(request(split_key="pay_42"), (split,), CONTEXT) for _ in range(5)}

    assert len(decisions) == 1
    (decision,) = decisions
    assert sorted(decision.candidates) == ["a", "b", "c"]
    assert decision.candidates[2] == "c"  # unweighted channels keep their place behind


# --- cost -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "order"),
    [
        (1_000, ("a", "b", "c")),  # a=35 b=59 c=110
        (90_000, ("c", "a", "b")),  # a=1370 b=2640 c=1000
    ],
)
def test_cost_based_puts_the_cheapest_channel_for_the_amount_first(
    amount: int, order: tuple[str, ...]
) -> None:
    assert decide(request(amount_minor=amount), (CostBased(),), CONTEXT).candidates == order


def test_fees_round_up_to_a_whole_minor_unit() -> None:
    assert ChannelProfile("x", fee_bps=150).cost_minor(1) == 1
    assert ChannelProfile("x", fee_bps=150, fee_fixed_minor=20).cost_minor(1000) == 35


# --- health ---------------------------------------------------------------------------


def test_health_moves_degraded_channels_last_after_open_circuits_are_dropped() -> None:
    context = RoutingContext(
        PROFILES,
        health={
            "a": HealthView(success_rate=0.5, latency_ms=10, samples=20),
            "b": HealthView(available=False),
            "c": HealthView(success_rate=1.0, latency_ms=10, samples=20),
        },
    )

    decision = decide(request(), (HealthBased(),), context)

    assert decision.candidates == ("c", "a")
    assert decision.steps == ("capable:a,b,c", "open:b", "health:degraded=a")


def test_health_ignores_channels_with_too_few_samples_and_can_bound_latency() -> None:
    context = RoutingContext(
        PROFILES,
        health={
            "a": HealthView(success_rate=0.0, samples=2),
            "b": HealthView(success_rate=1.0, latency_ms=900, samples=50),
        },
    )

    decision = decide(request(), (HealthBased(max_latency_ms=500),), context)

    assert decision.candidates == ("a", "c", "b")


# --- chains ---------------------------------------------------------------------------


def test_strategies_compose_in_order_and_every_step_is_recorded() -> None:
    context = RoutingContext(PROFILES, health={"a": HealthView(available=False)})
    chain = (Rules((Rule("usd", ("a", "b", "c"), currencies=frozenset({"USD"})),)), CostBased())

    decision = decide(request(), (*chain, HealthBased()), context)

    assert decision.candidates == ("b", "c")
    assert decision.steps == (
        "capable:a,b,c",
        "open:a",
        "rule:usd",
        "cost:b=59,c=110",
        "health:ok",
    )


@pytest.mark.parametrize(
    "chain",
    [
        (),
        (CostBased(),),
        (Rules((Rule("a-only", ("a", "b")),)),),
        (WeightedSplit({"a": 100}),),
        (HealthBased(),),
    ],
    ids=["no strategy", "cost", "rules", "split", "health"],
)
def test_an_open_breaker_removes_its_channel_whatever_the_merchants_chain(
    chain: tuple[Strategy, ...],
) -> None:
    context = RoutingContext(PROFILES, health={"a": HealthView(available=False)})

    decision = decide(request(), chain, context)

    assert "a" not in decision.candidates
    assert decision.channel in {"b", "c"}
    assert decision.steps[1] == "open:a"


def test_when_every_capable_channel_is_open_nothing_carries_the_payment() -> None:
    closed = {name: HealthView(available=False) for name in PROFILES}

    decision = decide(request(), (CostBased(),), RoutingContext(PROFILES, health=closed))

    assert decision.channel is None
    assert decision.steps == ("capable:a,b,c", "open:a,b,c")
