"""ScoreTransaction: what CreatePayment would decide, creating and counting nothing."""

from __future__ import annotations

import asyncpg
import grpc

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import risk_service_pb2 as risk_svc
from tests.support.expect import expect_invalid
from tests.support.requests import card, money, usd

from .conftest import Shop

DECISION = pb.RiskAssessment


async def test_a_dry_run_scores_and_shows_its_features_without_creating_anything(
    shop: Shop, db: asyncpg.Pool, merchant_id: str
) -> None:
    context = pb.RiskContext(
        ip_address="203.0.113.7", ip_country="NG", device_id="d1", customer_email="x@yopmail.com"
    )
    fields = {"amount": usd(700), "payment_method": card(), "risk_context": context}
    first = await shop.score(**fields)
    again = await shop.score(**fields)
    assert first == again  # velocity was read, not counted
    assert first.features["card_count_1m"] == "1"
    assert first.features["country_mismatch"] == "true"
    assert first.features["card_country"] == "US"
    assert "geo_mismatch" in first.assessment.reasons
    assert first.assessment.decision != DECISION.DECISION_APPROVE
    shadow = "geo_mismatch_disposable_email"
    assert shadow in first.shadow_reasons  # shadow: reported, not counted
    assert shadow not in first.assessment.reasons
    count = await db.fetchval("SELECT count(*) FROM payments WHERE merchant_id = $1", merchant_id)
    assert count == 0

    made = await shop.pay(**fields)
    assert made.risk == first.assessment
    after = await shop.score(**fields)
    assert after.features["card_count_1m"] == "2"


async def test_a_dry_run_of_plain_test_traffic_approves(shop: Shop) -> None:
    answer = await shop.score(amount=usd(10), payment_method=card())
    assert answer.assessment.decision == DECISION.DECISION_APPROVE
    assert list(answer.assessment.reasons) == []


async def test_invalid_and_unknown_fields_are_refused(
    shop: Shop, grpc_channel: grpc.aio.Channel
) -> None:
    await expect_invalid(shop.score(), "amount")
    await expect_invalid(shop.score(amount=money(1, currency="XXY")), "amount.currency_code")
    bad_context = pb.RiskContext(ip_address="300.1.1.1", ip_country="usa", customer_email="no")
    await expect_invalid(
        shop.score(amount=usd(1), risk_context=bad_context),
        "risk_context.ip_address",
        "risk_context.ip_country",
        "risk_context.customer_email",
    )
    # Field 100 does not exist: a client of another API version, or a typo'd field.
    raw = risk_svc.ScoreTransactionRequest(amount=usd(1)).SerializeToString() + b"\xa0\x06\x01"
    method = grpc_channel.unary_unary(
        "/paycore.v1.RiskService/ScoreTransaction",
        request_serializer=None,
        response_deserializer=None,
    )
    await expect_invalid(method(raw, metadata=shop.admin), "#100")
    nested = (
        risk_svc.ScoreTransactionRequest(amount=usd(1)).SerializeToString()
        + b"\x22\x03\xa0\x06\x01"
    )
    await expect_invalid(method(nested, metadata=shop.admin), "risk_context.#100")
