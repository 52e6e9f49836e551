"""Refund review decisions: replayed, raced, refused to a merchant key, audited, validated.

Callers as in test_refund_review.py: only through the ``metadata`` / ``admin_metadata``
fixtures.
"""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest

from paycore.v1 import merchant_settings_service_pb2 as settings_svc
from paycore.v1 import payment_pb2 as pb
from tests.support.api import Api
from tests.support.expect import FAILED_PRECONDITION, expect_error, expect_invalid
from tests.support.requests import new_request_id, usd, wire

from .back_office import BackOffice, audit_rows, held, refund_attempts

R = pb.Refund
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


# --- idempotency and races ------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_a_repeated_decision_replays_the_first_reply(
    api: Api, admin: BackOffice, db: asyncpg.Pool, decision: str
) -> None:
    _, refund = await held(api, admin)
    request_id = new_request_id()

    first = await getattr(admin, decision)(refund.id, request_id=request_id)
    second = await getattr(admin, decision)(refund.id, request_id=request_id)

    assert wire(second) == wire(first)
    assert len(await audit_rows(db, refund.id)) == 1
    assert len(await refund_attempts(db, api.merchant_id)) == (1 if decision == "approve" else 0)


async def test_approve_racing_reject_ends_in_exactly_one_decision(
    api: Api, admin: BackOffice, db: asyncpg.Pool
) -> None:
    for _ in range(3):
        _, refund = await held(api, admin)
        outcomes = await asyncio.gather(
            admin.approve(refund.id), admin.reject(refund.id), return_exceptions=True
        )
        winners = [o for o in outcomes if not isinstance(o, BaseException)]
        losers = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        assert losers[0].code() == FAILED_PRECONDITION
        assert winners[0].refund.state in (R.STATE_SUCCEEDED, R.STATE_REJECTED)
        assert len(await audit_rows(db, refund.id)) == 1


# --- who may do what ------------------------------------------------------------------------------


async def test_a_merchant_key_may_not_decide_refunds_or_touch_settings(
    api: Api, admin: BackOffice, merchant_office: BackOffice
) -> None:
    payment, refund = await held(api, admin)
    calls = {
        "approve": merchant_office.approve(refund.id),
        "reject": merchant_office.reject(refund.id),
        "update settings": merchant_office.set_thresholds(usd(1)),
        "get settings": merchant_office.settings.GetMerchantSettings(
            settings_svc.GetMerchantSettingsRequest(), metadata=merchant_office.metadata
        ),
    }
    for call in calls.values():
        await expect_error(call, PERMISSION_DENIED, "PERMISSION_DENIED")
    assert (await api.get(payment.id)).refunds[0].state == R.STATE_PENDING_REVIEW


async def test_audit_records_each_decision_with_before_and_after(
    api: Api, admin: BackOffice, db: asyncpg.Pool
) -> None:
    _, approved = await held(api, admin)
    await admin.approve(approved.id)
    _, rejected = await held(api, admin)
    await admin.reject(rejected.id, reason="duplicate")

    [approval] = await audit_rows(db, approved.id)
    [rejection] = await audit_rows(db, rejected.id)
    assert (approval["action"], approval["actor_role"], approval["merchant_id"]) == (
        "refund.approve",
        "admin",
        api.merchant_id,
    )
    assert approval["before"]["state"] == "pending_review"
    assert approval["after"]["state"] == "pending"  # sent; the channel's answer is on the refund
    assert approval["before"]["amount_minor"] == 8000
    assert rejection["action"] == "refund.reject"
    assert (rejection["before"]["state"], rejection["after"]["state"]) == (
        "pending_review",
        "rejected",
    )
    assert rejection["details"]["reason"] == "duplicate"


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_decisions_validate_the_refund_id(admin: BackOffice, decision: str) -> None:
    await expect_invalid(getattr(admin, decision)("pay_01JD0Z8W7X6V5T4S3R2Q1P0N9M"), "refund_id")
    await expect_invalid(getattr(admin, decision)(""), "refund_id")
    await expect_invalid(admin.reject("re_01JD0Z8W7X6V5T4S3R2Q1P0N9M", reason="x" * 501), "reason")
