"""Simulated acquirers, notification signatures, the routing file and the router's breaker."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.commands import CardInput
from core.domain.money import Money
from router import Router
from router.channel import BadSignature
from router.channels.acquirer_wire import attempt_from_wire, attempt_to_wire
from router.channels.simulated import (
    ACQUIRER_A,
    ACQUIRER_B,
    SANDBOX,
    Behaviour,
    SimulatedAcquirer,
)
from router.config import RoutingConfigError, load_routing_file, parse_routing
from router.health import BreakerSettings, BreakerState
from router.routing import CostBased, HealthBased, RouteRequest, Rules, WeightedSplit
from router.signing import sign, verify

YEAR = datetime.now(UTC).year + 2


def authorize(channel: str, amount: int = 1000, attempt_id: str = "att_1") -> Attempt:
    return Attempt(
        id=attempt_id,
        merchant_id="m_1",
        payment_id="pay_1",
        operation=ChannelOperation.AUTHORIZE,
        channel=channel,
        amount=Money(amount, "USD"),
        capture=True,
    )


def card(number: str) -> CardInput:
    return CardInput(number, 12, YEAR, "123")


VISA = card("4242424242424242")


# --- simulated acquirers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "a", "b"),
    [
        ("4242424242424242", "succeeded", "succeeded"),
        ("4000000000000002", "declined", "declined"),
        ("4000000000000119", "failed", "failed"),
        ("4000000000003220", "declined", "succeeded"),
        ("4000000000000341", "succeeded", "declined"),
    ],
)
async def test_acquirers_share_the_sandbox_cards_and_differ_on_their_own(
    number: str, a: str, b: str
) -> None:
    acquirer_a, acquirer_b = SimulatedAcquirer(ACQUIRER_A), SimulatedAcquirer(ACQUIRER_B)

    result_a = await acquirer_a.authorize(authorize("acquirer_a"), card(number))
    result_b = await acquirer_b.authorize(authorize("acquirer_b"), card(number))

    assert (result_a.outcome.value, result_b.outcome.value) == (a, b)


async def test_acquirer_a_takes_the_authentication_card_once_3ds_authenticated_it() -> None:
    acquirer_a = SimulatedAcquirer(ACQUIRER_A)
    attempt = dataclasses.replace(authorize("acquirer_a"), eci="05", liability_shift=True)

    result = await acquirer_a.authorize(attempt, card("4000000000003220"))
    unauthenticated = await acquirer_a.authorize(
        dataclasses.replace(attempt, id="att_2", eci="07", liability_shift=False),
        card("4000000000003220"),
    )

    assert result.outcome is AttemptOutcome.SUCCEEDED
    assert unauthenticated.outcome is AttemptOutcome.DECLINED
    assert unauthenticated.failure is not None
    assert unauthenticated.failure.code == "authentication_required"
    assert acquirer_a.ledger["att_1"].eci == "05"


def test_an_attempts_authentication_result_crosses_the_wire() -> None:
    attempt = dataclasses.replace(authorize("acquirer_a"), eci="05", liability_shift=True)

    assert attempt_from_wire(attempt_to_wire(attempt), "acquirer_a") == (attempt, None)


async def test_the_same_attempt_sent_twice_is_processed_once() -> None:
    channel = SimulatedAcquirer(SANDBOX)
    attempt = authorize("sandbox_card")

    first = await channel.authorize(attempt, card("4242424242424242"))
    second = await channel.authorize(attempt, card("4242424242424242"))

    assert first == second
    assert first.reference.startswith("sbx_")
    assert channel.charges("pay_1") == 1


async def test_a_status_query_answers_from_the_ledger_or_says_not_found() -> None:
    channel = SimulatedAcquirer(ACQUIRER_A)
    done = await channel.authorize(authorize("acquirer_a"), card("4242424242424242"))

    assert await channel.query(authorize("acquirer_a")) == done
    missing = await channel.query(authorize("acquirer_a", attempt_id="att_2"))
    assert (missing.outcome, missing.not_processed) == (AttemptOutcome.FAILED, True)


async def test_the_router_classifies_refusals_timeouts_and_resets() -> None:
    channel = SimulatedAcquirer(SANDBOX, Behaviour(hang_s=5.0))
    router = Router([channel], timeout_s=0.05)
    visa = card("4242424242424242")

    refused = await router.execute(authorize("sandbox_card", 99_903, "att_r"), visa)
    busy = await router.execute(authorize("sandbox_card", 99_904, "att_b"), visa)
    timed_out = await router.execute(authorize("sandbox_card", 99_901, "att_t"), visa)
    reset = await router.execute(authorize("sandbox_card", 99_905, "att_x"), visa)

    assert (refused.outcome, refused.not_processed) == (AttemptOutcome.FAILED, True)
    assert (busy.outcome, busy.not_processed) == (AttemptOutcome.FAILED, True)
    assert (timed_out.outcome, timed_out.not_processed) == (AttemptOutcome.UNKNOWN, False)
    assert (reset.outcome, reset.not_processed) == (AttemptOutcome.UNKNOWN, False)
    assert set(channel.ledger) == {"att_t", "att_x"}  # processed, though nobody heard back


async def test_failure_rates_are_reproducible_with_a_seed() -> None:
    async def refusals(seed: int) -> list[bool]:
        router = Router([SimulatedAcquirer(SANDBOX, Behaviour(refuse_rate=0.5, seed=seed))], 1.0)
        results = [
            await router.execute(authorize("sandbox_card", attempt_id=f"att_{i}"), VISA)
            for i in range(20)
        ]
        return [r.not_processed for r in results]

    first = await refusals(7)
    assert first == await refusals(7)
    assert any(first) and not all(first)


# --- the router's breaker ---------------------------------------------------------------


async def test_refusals_open_the_circuit_and_routing_skips_the_channel_until_it_half_opens() -> (
    None
):
    now = [0.0]
    a = SimulatedAcquirer(ACQUIRER_A, Behaviour(refuse_rate=1.0))
    b = SimulatedAcquirer(ACQUIRER_B)
    router = Router(
        [a, b],
        timeout_s=1.0,
        breaker=BreakerSettings(consecutive_failures_to_open=3, open_for_s=10),
        clock=lambda: now[0],
    )
    usd = RouteRequest("m_1", "card", "USD", 1000, brand="visa", split_key="pay_1")
    for i in range(3):
        await router.execute(
            authorize("acquirer_a", attempt_id=f"att_{i}"), card("4242424242424242")
        )

    assert router.health("acquirer_a").state(now[0]) is BreakerState.OPEN
    assert router.decide(usd).candidates == ("acquirer_b",)
    now[0] = 10.0
    assert router.decide(usd).candidates == ("acquirer_a", "acquirer_b")  # half-open: one probe
    a.behaviour = Behaviour()
    await router.execute(authorize("acquirer_a", attempt_id="att_probe"), VISA)
    assert router.health("acquirer_a").state(now[0]) is BreakerState.CLOSED


async def test_trigger_amounts_neither_count_in_the_breaker_nor_take_its_probe_slot() -> None:
    now = [0.0]
    sandbox = SimulatedAcquirer(SANDBOX, Behaviour(hang_s=0.2))
    router = Router(
        [sandbox],
        timeout_s=0.05,
        breaker=BreakerSettings(consecutive_failures_to_open=2, open_for_s=10),
        clock=lambda: now[0],
    )
    for i, amount in enumerate((99_901, 99_902, 99_903, 99_904, 99_905) * 2):
        triggered = authorize("sandbox_card", amount, f"att_t{i}")
        await router.execute(triggered, VISA)
        await router.query(triggered)  # a status query of it is test traffic too
    assert router.health("sandbox_card").state(now[0]) is BreakerState.CLOSED
    assert router.health("sandbox_card").view(now[0]).samples == 0

    # Live failures still open it; half-open, a trigger call takes no probe slot.
    sandbox.behaviour = Behaviour(refuse_rate=1.0)
    for i in range(2):
        await router.execute(authorize("sandbox_card", attempt_id=f"att_live{i}"), VISA)
    assert router.health("sandbox_card").state(now[0]) is BreakerState.OPEN
    now[0] = 10.0
    sandbox.behaviour = Behaviour()
    await router.execute(authorize("sandbox_card", 99_904, "att_t_half"), VISA)
    assert router.health("sandbox_card").allows(now[0])
    probe = await router.execute(authorize("sandbox_card", attempt_id="att_probe"), VISA)
    assert probe.outcome is AttemptOutcome.SUCCEEDED
    assert router.health("sandbox_card").state(now[0]) is BreakerState.CLOSED


# --- notification signatures ---------------------------------------------------------------


def test_a_signed_notification_verifies_and_decodes() -> None:
    channel = SimulatedAcquirer(ACQUIRER_A, callback_secret=b"s3cret", clock=lambda: 1_000)
    body = json.dumps({"event_id": "ev_1", "attempt_id": "att_1", "outcome": "succeeded"}).encode()

    notification = channel.parse_callback({"x-signature": sign(b"s3cret", body, 990)}, body)

    assert notification.event_id == "ev_1"
    assert notification.result.outcome is AttemptOutcome.SUCCEEDED


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing"),
        ({"X-Signature": sign(b"other", b"{}", 1_000)}, "does not match"),
        ({"X-Signature": sign(b"s3cret", b"{}", 600)}, "stale"),
        ({"X-Signature": "t=1000,v1=signé"}, "does not match"),
    ],
)
def test_bad_or_stale_signatures_are_refused(headers: dict[str, str], why: str) -> None:
    with pytest.raises(BadSignature, match=why):
        verify(b"s3cret", headers, b"{}", now=1_000, tolerance_s=300)


# --- the routing file -------------------------------------------------------------------


CHANNELS = frozenset({"acquirer_a", "acquirer_b"})


def test_the_routing_file_builds_each_merchants_chain(tmp_path: object) -> None:
    table = parse_routing(
        {
            "default": {
                "strategies": ["rules", "split", "cost", "health"],
                "rules": [{"name": "eur", "channels": ["acquirer_b"], "currencies": ["EUR"]}],
                "split": {"acquirer_a": 70, "acquirer_b": 30},
                "health": {"min_samples": 10, "max_latency_ms": 800},
            },
            "merchants": {"m_cheap": {"strategies": ["cost"]}},
        },
        CHANNELS,
    )

    rules, split, cost, health = table.chain_for("m_any")
    assert isinstance(rules, Rules) and rules.rules[0].currencies == {"EUR"}
    assert isinstance(split, WeightedSplit) and dict(split.weights) == {
        "acquirer_a": 70,
        "acquirer_b": 30,
    }
    assert isinstance(cost, CostBased)
    assert health == HealthBased(min_samples=10, max_latency_ms=800.0)
    assert table.chain_for("m_cheap") == (CostBased(),)


def test_without_a_routing_file_every_merchant_routes_by_priority_and_health() -> None:
    assert load_routing_file(None, CHANNELS).chain_for("m_1") == (HealthBased(),)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"default": {"strategies": ["fastest"]}}, "unknown strategy"),
        ({"default": {"strategies": ["split"], "split": {"acquirer_z": 1}}}, "unknown channels"),
        ({"default": {"strategies": ["split"], "split": {"acquirer_a": 0}}}, "not all 0"),
        (
            {"default": {"strategies": ["rules"], "rules": [{"channels": ["acquirer_a"], "x": 1}]}},
            "unknown keys",
        ),
        ({"defaults": {}}, "unknown routing keys"),
        ({"default": {"strategies": ["rules"]}}, "needs rules"),
        ({"default": {"strategies": "cost"}}, "list of strings"),
        ({"default": {"health": {"min_success_rate": float("nan")}}}, "finite number"),
        ({"merchants": {"m_1": {"stratgies": ["cost"]}}}, r"merchants.m_1: unknown keys"),
    ],
)
def test_a_bad_routing_file_is_refused_with_the_offending_key(
    raw: dict[str, object], message: str
) -> None:
    with pytest.raises(RoutingConfigError, match=message):
        parse_routing(raw, CHANNELS)


def test_channel_result_defaults_to_processed() -> None:
    assert not ChannelResult(AttemptOutcome.FAILED).not_processed


async def test_a_merchant_initiated_charge_needs_its_agreement_id() -> None:
    channel = SimulatedAcquirer(SANDBOX)
    card = CardInput("4242424242424242", 12, YEAR)
    mit = dataclasses.replace(authorize(SANDBOX.profile.name), merchant_initiated=True)

    without = await channel.authorize(mit, card)
    agreed = dataclasses.replace(mit, id="att_2", agreement_id="sbx_agreement")
    with_agreement = await channel.authorize(agreed, card)

    assert without.outcome is AttemptOutcome.DECLINED
    assert without.failure is not None and without.failure.code == "agreement_required"
    assert with_agreement.outcome is AttemptOutcome.SUCCEEDED
    seen = channel.ledger["att_2"]
    assert (seen.merchant_initiated, seen.agreement_id) == (True, "sbx_agreement")


def test_the_wire_carries_the_merchant_initiated_flag_and_agreement() -> None:
    mit = dataclasses.replace(
        authorize("acquirer_a"), merchant_initiated=True, agreement_id="aqa_1"
    )
    decoded, _ = attempt_from_wire(attempt_to_wire(mit), "acquirer_a")
    assert decoded == mit
