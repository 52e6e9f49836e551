"""Velocity in Redis: sliding windows, one script round trip, declines, history, fail open."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.domain.money import Money
from core.domain.payment import CardSummary
from core.redis.velocity import RedisVelocity, list_version_key, velocity_key
from paycore.v1 import payment_pb2 as pb
from riskengine.features import Transaction
from tests.support.requests import CARD_DECLINED, card, usd

from .conftest import Shop

MINUTE, HOUR = 60_000, 3_600_000
NOW = 1_800_000_000_000


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def transaction(merchant: str, amount: int = 1000, **fields: Any) -> Transaction:
    summary = CardSummary("visa", "424242", "4242", 12, 2030, "fp_card")
    return Transaction(merchant, Money(amount, "USD"), summary, **fields)


async def test_windows_count_and_sum_what_happened_before_in_one_script(
    redis_client: aioredis.Redis,
) -> None:
    velocity = RedisVelocity(redis_client, retry_interval_s=1.0)
    merchant = f"m_{uuid.uuid4().hex[:12]}"
    for i, ago in enumerate([25 * HOUR, 23 * HOUR, 30 * MINUTE, 30_000]):
        await velocity.read_and_count(
            transaction(merchant, 100 * (i + 1), device_id="d"),
            f"p{i}",
            write=True,
            now_ms=NOW - ago,
        )
    rounds = velocity.stats.round_trips
    read = await velocity.read_and_count(
        transaction(merchant, device_id="d"), "now", write=False, now_ms=NOW
    )
    assert velocity.stats.round_trips == rounds + 1
    counters = read.velocity.counters
    # Older than 24 h: gone. The 24 h window: 200 + 300 + 400; the hour: 300 + 400.
    assert (counters["card_count_1m"], counters["card_sum_1m"]) == (1, 400)
    assert (counters["card_count_1h"], counters["card_sum_1h"]) == (2, 700)
    assert (counters["card_count_24h"], counters["card_sum_24h"]) == (3, 900)
    assert counters["device_count_24h"] == 3
    assert "customer_count_1m" not in counters  # no customer on this transaction
    again = await velocity.read_and_count(
        transaction(merchant, device_id="d"), "now", write=False, now_ms=NOW
    )
    assert again == read  # a dry run counts nothing
    other = await velocity.read_and_count(
        transaction(f"m_{uuid.uuid4().hex[:12]}"), "x", write=False, now_ms=NOW
    )
    assert other.velocity.counters["card_count_24h"] == 0  # per merchant
    key = velocity_key(merchant, "card", "fp_card")
    assert key.startswith(f"paycore:{{{merchant}}}:risk:v:card:")  # the cluster hash tag
    assert "fp_card" not in key
    assert 0 < await redis_client.pttl(key) <= 24 * HOUR


async def test_customer_history_says_first_seen_and_the_average(
    redis_client: aioredis.Redis,
) -> None:
    velocity = RedisVelocity(redis_client, retry_interval_s=1.0)
    merchant = f"m_{uuid.uuid4().hex[:12]}"
    first = await velocity.read_and_count(
        transaction(merchant, 1000, customer_id="c"), "p1", write=True
    )
    assert (first.velocity.customer_tx_count, first.velocity.customer_amount_sum) == (0, 0)
    await velocity.read_and_count(transaction(merchant, 3000, customer_id="c"), "p2", write=True)
    third = await velocity.read_and_count(
        transaction(merchant, 50, customer_id="c"), "p3", write=False
    )
    assert (third.velocity.customer_tx_count, third.velocity.customer_amount_sum) == (2, 4000)
    assert third.velocity.counters["customer_count_1m"] == 2


async def test_declines_and_the_list_version_come_back_in_the_same_reply(
    redis_client: aioredis.Redis,
) -> None:
    velocity = RedisVelocity(redis_client, retry_interval_s=1.0)
    merchant = f"m_{uuid.uuid4().hex[:12]}"
    declined = transaction(merchant, device_id="dev")
    await velocity.record_decline(declined, "p1", now_ms=NOW - 2 * HOUR)
    await velocity.record_decline(declined, "p2", now_ms=NOW - MINUTE)
    await velocity.record_decline(transaction(merchant), "p3", now_ms=NOW - MINUTE)  # card only
    read = await velocity.read_and_count(declined, "p4", write=False, now_ms=NOW)
    counters = read.velocity.counters
    assert (counters["card_declines_1h"], counters["card_declines_24h"]) == (2, 3)
    assert (counters["device_declines_1h"], counters["device_declines_24h"]) == (1, 2)
    assert read.list_version == 0
    await velocity.bump_list_version(merchant)
    assert (await velocity.read_and_count(declined, "p5", write=False)).list_version == 1
    assert await redis_client.get(list_version_key(merchant)) == b"1"


async def test_an_unreachable_redis_fails_open_and_is_left_alone_for_a_while() -> None:
    clock = [100.0]
    # Nothing listens on port 1: every command fails at once.
    client = aioredis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2)
    velocity = RedisVelocity(client, retry_interval_s=5.0, monotonic=lambda: clock[0])
    try:
        read = await velocity.read_and_count(transaction("m", customer_id="c"), "p", write=True)
        assert read.velocity.available is False
        assert read.list_version is None
        assert velocity.stats.failures == 1
        await velocity.read_and_count(transaction("m"), "p2", write=True)
        await velocity.record_decline(transaction("m"), "p2")
        assert (velocity.stats.failures, velocity.stats.round_trips) == (1, 1)  # not retried
        clock[0] += 5.0
        await velocity.read_and_count(transaction("m"), "p3", write=True)
        assert (velocity.stats.failures, velocity.stats.round_trips) == (2, 2)  # retried, failed
        assert velocity.stats.fail_open == 3
    finally:
        await client.aclose()


async def test_declines_reported_by_the_channel_feed_card_testing_rules(shop: Shop) -> None:
    context = pb.RiskContext(device_id=f"dev-{uuid.uuid4().hex[:6]}", ip_address="192.0.2.44")
    for _ in range(3):
        payment = await shop.pay(
            amount=usd(50), payment_method=card(CARD_DECLINED), risk_context=context
        )
        assert payment.state == pb.Payment.STATE_DECLINED
        assert payment.failure.code == "card_declined"
    # The decline counters are written after the reply, off its path: poll briefly.
    deadline = time.monotonic() + 5.0
    while True:
        answer = await shop.score(amount=usd(5), risk_context=context)
        if answer.features["device_declines_1h"] == "3" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert answer.features["device_declines_1h"] == "3"
    assert "card_testing_device" in answer.assessment.reasons
    assert answer.assessment.decision != pb.RiskAssessment.DECISION_APPROVE
    nosy = await shop.pay(amount=usd(5), risk_context=context)
    assert nosy.state in (pb.Payment.STATE_REQUIRES_REVIEW, pb.Payment.STATE_DECLINED)
    assert nosy.channel == ""


async def test_payments_are_scored_without_velocity_while_redis_is_away(
    shop: Shop, services
) -> None:
    # One view of Redis for the gate and velocity (core/app/_risk.py): away for both.
    availability = services.gate.availability
    away = availability._away_until
    availability._away_until = time.monotonic() + 60.0  # as after a failure
    try:
        answer = await shop.score(amount=usd(10), payment_method=card())
        assert answer.features["velocity_unavailable"] == "true"
        payment = await shop.pay()
        assert payment.state == pb.Payment.STATE_CAPTURED  # fail open
    finally:
        availability._away_until = away


async def test_lost_disputes_count_once_each_for_a_year_per_card_customer_and_email(
    redis_client: aioredis.Redis,
) -> None:
    velocity = RedisVelocity(redis_client, retry_interval_s=1.0)
    merchant = f"m_{uuid.uuid4().hex[:12]}"
    payer = transaction(merchant, customer_id="c", customer_email="Who@Example.com")
    await velocity.record_lost_dispute(payer, "dp_old", now_ms=NOW - 366 * 24 * HOUR)
    await velocity.record_lost_dispute(payer, "dp_1", now_ms=NOW - 30 * 24 * HOUR)
    await velocity.record_lost_dispute(payer, "dp_1", now_ms=NOW - 29 * 24 * HOUR)  # again
    await velocity.record_lost_dispute(transaction(merchant), "dp_2", now_ms=NOW - HOUR)

    same_email = transaction(merchant, customer_email="who@example.com")
    read = await velocity.read_and_count(same_email, "p", write=False, now_ms=NOW)
    assert read.velocity.counters["card_lost_disputes"] == 2  # dp_1 and dp_2; dp_old expired
    assert read.velocity.counters["email_lost_disputes"] == 1
    customer = await velocity.read_and_count(
        transaction(merchant, customer_id="c"), "p", write=False, now_ms=NOW
    )
    assert customer.velocity.counters["customer_lost_disputes"] == 1
    assert customer.velocity.customer_tx_count == 0  # the history still follows the lost sets
    other = await velocity.read_and_count(
        transaction(f"m_{uuid.uuid4().hex[:12]}"), "p", write=False, now_ms=NOW
    )
    assert other.velocity.counters["card_lost_disputes"] == 0  # per merchant
