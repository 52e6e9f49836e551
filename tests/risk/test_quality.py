"""The shipped rules tell synthetic fraud from legit traffic better than chance (real Redis)."""

from __future__ import annotations

import dataclasses
import uuid

import redis.asyncio as aioredis

from bench.risk_quality import StepUp, evaluate
from core.redis.velocity import RedisVelocity
from core.risk.rules_file import default_rules_path, load_rules
from riskengine.engine import RiskEngine
from riskengine.synthetic import generate


async def test_default_rules_detect_synthetic_fraud_better_than_chance(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        stream = generate(f"m_{uuid.uuid4().hex[:12]}", customers=60, attacks=2, seed=3)
        assert (
            generate(stream[0].transaction.merchant_id, customers=60, attacks=2, seed=3) == stream
        )
        quality = await evaluate(
            RedisVelocity(client, retry_interval_s=1.0),
            RiskEngine(load_rules(default_rules_path())),
            stream,
        )
    finally:
        await client.aclose()
    fraud_share = (quality.tp + quality.fn) / len(stream)
    # Better than chance: fraud is flagged far more often than legitimate payments,
    # and a flagged payment is fraud far more often than a random one.
    assert quality.recall > 2 * quality.false_positive_rate
    assert quality.precision > 2 * fraud_share
    assert set(quality.total_by_pattern) >= {"legit", "card_testing", "account_takeover"}


async def test_step_up_stops_more_fraud_when_fraudsters_fail_authentication(
    redis_url: str,
) -> None:
    # The benchmark's stated assumptions: fraudsters never pass, customers pass at 95%.
    rules = load_rules(default_rules_path())
    stepping = RiskEngine(dataclasses.replace(rules, step_up_threshold=20))
    client = aioredis.from_url(redis_url)
    try:
        results = []
        for engine, step_up in ((RiskEngine(rules), None), (stepping, StepUp(0.95, seed=1))):
            stream = generate(f"m_{uuid.uuid4().hex[:12]}", customers=60, attacks=2, seed=3)
            velocity = RedisVelocity(client, retry_interval_s=1.0)
            results.append(await evaluate(velocity, engine, stream, step_up=step_up))
    finally:
        await client.aclose()
    without, with_step_up = results
    assert with_step_up.decisions["STEP_UP"] > 0
    assert without.decisions["STEP_UP"] == 0
    assert with_step_up.tp > without.tp  # stepped-up fraud is stopped
    # A legitimate payment is lost only when its customer fails the step-up.
    assert with_step_up.fp == without.fp + with_step_up.stepped_up_legit_failed
