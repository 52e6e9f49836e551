"""REVIEW holds a payment; an admin approves (then it is authorized) or rejects it."""

from __future__ import annotations

import uuid

import asyncpg
import grpc

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import risk_service_pb2 as risk_svc
from tests.support.expect import FAILED_PRECONDITION, NOT_FOUND, expect_error, expect_invalid
from tests.support.requests import (
    AMEX,
    CARD_DECLINED,
    MASTERCARD,
    VISA,
    build,
    card,
    manual_capture,
    manual_confirmation,
    usd,
)

from .conftest import Shop, audit_json

S = pb.Payment
REVIEW = pb.RiskAssessment.DECISION_REVIEW


def held_fields(**fields: object) -> dict[str, object]:
    """A payment the default rules hold: a never-seen customer spending 3,000.00."""
    return {"amount": usd(3000), "customer_id": f"c_{uuid.uuid4().hex[:8]}", **fields}


async def approve(shop: Shop, payment_id: str, request_id: str = "") -> pb.Payment:
    request = build(
        risk_svc.ApproveReviewRequest,
        payment_id=payment_id,
        note="called the customer",
        **({"request_id": request_id} if request_id else {}),
    )
    return (await shop.risk.ApproveReview(request, metadata=shop.admin)).payment


async def reject(shop: Shop, payment_id: str) -> pb.Payment:
    request = build(risk_svc.RejectReviewRequest, payment_id=payment_id, reason="stolen card")
    return (await shop.risk.RejectReview(request, metadata=shop.admin)).payment


async def test_a_review_decision_holds_the_payment_without_a_channel(
    shop: Shop, db: asyncpg.Pool, merchant_id: str
) -> None:
    payment = await shop.pay(**held_fields())
    assert payment.state == S.STATE_REQUIRES_REVIEW
    assert payment.risk.decision == REVIEW
    assert "amount_outlier_first_seen" in payment.risk.reasons
    assert 0 <= payment.risk.score <= 100
    assert payment.channel == ""
    attempts = await db.fetchval(
        "SELECT count(*) FROM channel_attempts WHERE merchant_id = $1 AND payment_id = $2",
        merchant_id,
        payment.id,
    )
    assert attempts == 0
    # Stored with the payment, not only in the reply.
    assert (await shop.get(payment.id)).risk == payment.risk
    queue = await shop.reviews()
    assert [r.payment.id for r in queue.reviews] == [payment.id]
    assert queue.reviews[0].payment.risk.decision == REVIEW


async def test_approving_a_held_payment_authorizes_it_through_its_channel(
    shop: Shop, db: asyncpg.Pool, merchant_id: str
) -> None:
    payment = await shop.pay(**held_fields(**manual_capture()))
    approved = await approve(shop, payment.id)
    assert approved.state == S.STATE_AUTHORIZED
    assert approved.channel == "sandbox_card"
    assert approved.risk == payment.risk  # what risk said stays on record
    assert (await shop.reviews()).reviews == []
    audit = await db.fetch(
        "SELECT action, actor_role, before, after FROM audit_events"
        " WHERE merchant_id = $1 AND resource_id = $2",
        merchant_id,
        payment.id,
    )
    assert [(a["action"], a["actor_role"]) for a in audit] == [("risk_review.approve", "admin")]
    # Written with the approval, as the payment leaves for its channel.
    assert audit_json(audit[0]["after"]) == {"state": "pending"}
    assert audit_json(audit[0]["before"]) == {"state": "requires_review"}


async def test_an_approved_held_card_goes_to_the_channel_that_decides(shop: Shop) -> None:
    payment = await shop.pay(**held_fields(payment_method=card(CARD_DECLINED)))
    declined = await approve(shop, payment.id)
    assert declined.state == S.STATE_DECLINED
    assert declined.failure.code == "card_declined"


async def test_approve_is_idempotent_and_a_second_decision_is_refused(shop: Shop) -> None:
    payment = await shop.pay(**held_fields())
    request_id = str(uuid.uuid4())
    first = await approve(shop, payment.id, request_id)
    assert await approve(shop, payment.id, request_id) == first  # replayed, not run again
    assert first.state == S.STATE_CAPTURED
    await expect_error(approve(shop, payment.id), FAILED_PRECONDITION, "PAYMENT_NOT_IN_REVIEW")
    await expect_error(reject(shop, payment.id), FAILED_PRECONDITION, "PAYMENT_NOT_IN_REVIEW")


async def test_rejecting_a_held_payment_declines_it_for_good(
    shop: Shop, db: asyncpg.Pool, merchant_id: str
) -> None:
    payment = await shop.pay(**held_fields())
    rejected = await reject(shop, payment.id)
    assert rejected.state == S.STATE_DECLINED
    assert (rejected.failure.code, rejected.failure.message) == ("risk_rejected", "stolen card")
    assert rejected.channel == ""
    assert (await shop.get(payment.id)).state == S.STATE_DECLINED
    action = await db.fetchval(
        "SELECT action FROM audit_events WHERE merchant_id = $1 AND resource_id = $2",
        merchant_id,
        payment.id,
    )
    assert action == "risk_review.reject"


async def test_a_payment_never_held_is_not_a_review(shop: Shop) -> None:
    payment = await shop.pay()
    assert payment.state == S.STATE_CAPTURED
    await expect_error(approve(shop, payment.id), NOT_FOUND, "REVIEW_NOT_FOUND")
    unknown = "pay_01JD0Z8W7X6V5T4S3R2Q1P0N9M"
    await expect_error(approve(shop, unknown), NOT_FOUND, "PAYMENT_NOT_FOUND")
    await expect_invalid(approve(shop, "nope"), "payment_id")


async def test_the_merchant_may_cancel_a_held_payment(shop: Shop) -> None:
    payment = await shop.pay(**held_fields())
    request = build(svc.CancelPaymentRequest, payment_id=payment.id)
    canceled = (await shop.payments.CancelPayment(request, metadata=shop.metadata)).payment
    assert canceled.state == S.STATE_CANCELED
    assert (await shop.reviews()).reviews == []


async def test_the_review_queue_pages_oldest_first(shop: Shop) -> None:
    # Three cards: one card paying for three new customers within the hour is declined.
    held = [
        (await shop.pay(**held_fields(payment_method=card(n)))).id for n in (VISA, MASTERCARD, AMEX)
    ]
    first = await shop.reviews(page_size=2)
    assert [r.payment.id for r in first.reviews] == held[:2]
    assert first.next_page_token
    second = await shop.reviews(page_size=2, page_token=first.next_page_token)
    assert [r.payment.id for r in second.reviews] == held[2:]
    assert second.next_page_token == ""
    with_bad_token = shop.reviews(page_token="garbage")
    await expect_invalid(with_bad_token, "page_token", reason="INVALID_PAGE_TOKEN")


async def test_a_merchant_role_may_call_no_risk_rpc(shop: Shop) -> None:
    calls = {
        "ScoreTransaction": risk_svc.ScoreTransactionRequest(amount=usd(1)),
        "ListReviews": risk_svc.ListReviewsRequest(),
        "ApproveReview": build(risk_svc.ApproveReviewRequest, payment_id="pay_x"),
        "RejectReview": build(risk_svc.RejectReviewRequest, payment_id="pay_x"),
        "AddBlocklistEntry": build(risk_svc.AddBlocklistEntryRequest),
        "RemoveBlocklistEntry": build(risk_svc.RemoveBlocklistEntryRequest),
        "ListBlocklistEntries": risk_svc.ListBlocklistEntriesRequest(),
    }
    assert set(calls) == {
        m.name for m in risk_svc.DESCRIPTOR.services_by_name["RiskService"].methods
    }
    for rpc, request in calls.items():
        await expect_error(
            getattr(shop.risk, rpc)(request, metadata=shop.metadata),
            grpc.StatusCode.PERMISSION_DENIED,
            "PERMISSION_DENIED",
        )


async def test_a_confirmed_payment_can_be_held_and_approved_with_a_stored_card(
    shop: Shop,
) -> None:
    created = await shop.pay(**held_fields(**manual_confirmation()))
    assert created.state == S.STATE_REQUIRES_CONFIRMATION
    request = build(svc.ConfirmPaymentRequest, payment_id=created.id, payment_method=card())
    held = (await shop.payments.ConfirmPayment(request, metadata=shop.metadata)).payment
    assert held.state == S.STATE_REQUIRES_REVIEW
    assert (await approve(shop, held.id)).state == S.STATE_CAPTURED


async def test_a_refund_on_a_payment_risk_held_waits_for_review_whatever_its_amount(
    shop: Shop, db: asyncpg.Pool, merchant_id: str
) -> None:
    held = await shop.pay(**held_fields())
    captured = await approve(shop, held.id)
    assert captured.state == S.STATE_CAPTURED
    plain = await shop.pay(amount=usd(30))  # scored low: its refunds go straight through

    refund = build(svc.RefundPaymentRequest, payment_id=captured.id, amount=usd(1))
    risky = await shop.payments.RefundPayment(refund, metadata=shop.metadata)
    normal = await shop.payments.RefundPayment(
        build(svc.RefundPaymentRequest, payment_id=plain.id, amount=usd(1)),
        metadata=shop.metadata,
    )

    assert risky.refund.state == pb.Refund.STATE_PENDING_REVIEW
    assert normal.refund.state == pb.Refund.STATE_SUCCEEDED
    sent = await db.fetchval(
        "SELECT count(*) FROM channel_attempts WHERE merchant_id = $1 AND payment_id = $2"
        " AND operation = 'refund'",
        merchant_id,
        captured.id,
    )
    assert sent == 0
