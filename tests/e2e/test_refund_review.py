"""Refund review over gRPC: held refunds, admin approval and rejection, merchant settings.

Real PostgreSQL and Redis behind a real server. Callers are named only through
the ``metadata`` / ``admin_metadata`` fixtures (the merchant's own key and its
back office), so these tests keep working when API keys replace them.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.type import money_pb2

from core.app import Services
from core.config import Settings
from core.domain.commands import RefundPayment
from core.domain.money import Money
from core.domain.payment import Payment, Refund
from core.service.execution import Encoder, Reply, RequestIdentity
from core.service.payments.service import PaymentService, ServiceSettings
from paycore.v1 import merchant_settings_service_pb2 as settings_svc
from paycore.v1 import merchant_settings_service_pb2_grpc, payment_service_pb2_grpc
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from router import Router
from router.channels.simulated import SANDBOX, SimulatedAcquirer
from tests.support.api import Api
from tests.support.expect import FAILED_PRECONDITION, NOT_FOUND, expect_error, expect_invalid
from tests.support.requests import REFUND_FAILS, build, card, money, new_request_id, usd, wire

R = pb.Refund
S = pb.Payment
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class BackOffice:
    """The test merchant's admin: settings and refund decisions."""

    # Any: the generated stubs are typed for the blocking API, these are grpc.aio's.
    payments: Any
    settings: Any
    metadata: Metadata

    async def set_thresholds(self, *thresholds: money_pb2.Money) -> settings_svc.MerchantSettings:
        request = build(
            settings_svc.UpdateMerchantSettingsRequest,
            settings=settings_svc.MerchantSettings(refund_review_thresholds=thresholds),
            update_mask=FieldMask(paths=["refund_review_thresholds"]),
        )
        response = await self.settings.UpdateMerchantSettings(request, metadata=self.metadata)
        return response.settings

    async def approve(self, refund_id: str, **fields: Any) -> svc.ApproveRefundResponse:
        request = build(svc.ApproveRefundRequest, refund_id=refund_id, **fields)
        return await self.payments.ApproveRefund(request, metadata=self.metadata)

    async def reject(self, refund_id: str, **fields: Any) -> svc.RejectRefundResponse:
        request = build(svc.RejectRefundRequest, refund_id=refund_id, **fields)
        return await self.payments.RejectRefund(request, metadata=self.metadata)

    async def refunds(self, **fields: Any) -> svc.ListRefundsResponse:
        request = build(svc.ListRefundsRequest, **fields)
        return await self.payments.ListRefunds(request, metadata=self.metadata)


@pytest.fixture
def settings_stub(
    grpc_channel: grpc.aio.Channel,
) -> merchant_settings_service_pb2_grpc.MerchantSettingsServiceStub:
    return merchant_settings_service_pb2_grpc.MerchantSettingsServiceStub(grpc_channel)


@pytest.fixture
def admin(
    stub: payment_service_pb2_grpc.PaymentServiceStub,
    settings_stub: merchant_settings_service_pb2_grpc.MerchantSettingsServiceStub,
    admin_metadata: Metadata,
) -> BackOffice:
    return BackOffice(stub, settings_stub, admin_metadata)


@pytest.fixture
def merchant_office(
    stub: payment_service_pb2_grpc.PaymentServiceStub,
    settings_stub: merchant_settings_service_pb2_grpc.MerchantSettingsServiceStub,
    metadata: Metadata,
) -> BackOffice:
    """The same calls with the merchant's own (merchant-role) key."""
    return BackOffice(stub, settings_stub, metadata)


async def held(api: Api, admin: BackOffice, amount: int = 80) -> tuple[pb.Payment, pb.Refund]:
    """A captured payment of 100.00 USD with a refund of ``amount`` held for review."""
    await admin.set_thresholds(usd(50))
    payment = await api.captured(amount=usd(100))
    response = await api.refund(payment.id, usd(amount))
    assert response.refund.state == R.STATE_PENDING_REVIEW
    return response.payment, response.refund


async def refund_attempts(db: asyncpg.Pool, merchant_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT refund_id, outcome FROM channel_attempts"
        " WHERE merchant_id = $1 AND operation = 'refund' ORDER BY create_time",
        merchant_id,
    )


async def audit_rows(db: asyncpg.Pool, resource_id: str) -> list[dict[str, Any]]:
    # Keys issued by the fixtures are audited too, by actor "system": not these tests' subject.
    rows = await db.fetch(
        "SELECT * FROM audit_events WHERE resource_id = $1 AND actor_role <> 'system' ORDER BY id",
        resource_id,
    )
    return [
        {
            **dict(row),
            "before": json.loads(row["before"]) if row["before"] else None,
            "after": json.loads(row["after"]) if row["after"] else None,
            "details": json.loads(row["details"]),
        }
        for row in rows
    ]


# --- without a threshold nothing changes ------------------------------------------------


async def test_without_a_threshold_refunds_go_straight_to_the_channel(
    api: Api, db: asyncpg.Pool
) -> None:
    payment = await api.captured(amount=usd(100))
    response = await api.refund(payment.id, usd(80))
    assert response.refund.state == R.STATE_SUCCEEDED
    assert response.payment.state == S.STATE_PARTIALLY_REFUNDED
    assert len(await refund_attempts(db, api.merchant_id)) == 1


async def test_a_refund_up_to_the_threshold_is_not_held(api: Api, admin: BackOffice) -> None:
    await admin.set_thresholds(usd(50))
    payment = await api.captured(amount=usd(100))
    assert (await api.refund(payment.id, usd(50))).refund.state == R.STATE_SUCCEEDED


async def test_a_threshold_in_another_currency_does_not_hold(api: Api, admin: BackOffice) -> None:
    await admin.set_thresholds(money(1, currency="EUR"))
    payment = await api.captured(amount=usd(100))
    assert (await api.refund(payment.id)).refund.state == R.STATE_SUCCEEDED


# --- held refunds -------------------------------------------------------------------------


async def test_a_refund_above_the_threshold_waits_without_reaching_the_channel(
    api: Api, admin: BackOffice, db: asyncpg.Pool
) -> None:
    payment, refund = await held(api, admin)

    assert payment.state == S.STATE_CAPTURED
    assert payment.amount_refunded == usd(0)
    assert await refund_attempts(db, api.merchant_id) == []
    shown = await api.get(payment.id)
    assert [(r.id, r.state) for r in shown.refunds] == [(refund.id, R.STATE_PENDING_REVIEW)]
    assert shown.state == S.STATE_CAPTURED


async def test_a_held_refund_reserves_its_amount(api: Api, admin: BackOffice) -> None:
    payment, _ = await held(api, admin, 80)

    await expect_error(
        api.refund(payment.id, usd(30)), FAILED_PRECONDITION, "REFUND_EXCEEDS_CAPTURED"
    )
    rest = await api.refund(payment.id)  # everything not reserved: 20.00, below the threshold
    assert (rest.refund.amount, rest.refund.state) == (usd(20), R.STATE_SUCCEEDED)
    assert rest.payment.state == S.STATE_PARTIALLY_REFUNDED


async def test_approve_sends_the_refund_and_settles_it(
    api: Api, admin: BackOffice, db: asyncpg.Pool
) -> None:
    payment, refund = await held(api, admin, 80)

    approved = await admin.approve(refund.id)

    assert (approved.refund.id, approved.refund.state) == (refund.id, R.STATE_SUCCEEDED)
    assert approved.refund.channel_reference
    assert approved.payment.state == S.STATE_PARTIALLY_REFUNDED
    assert approved.payment.amount_refunded == usd(80)
    assert [(a["refund_id"], a["outcome"]) for a in await refund_attempts(db, api.merchant_id)] == [
        (refund.id, "succeeded")
    ]
    assert (await api.get(payment.id)).refunds[0].state == R.STATE_SUCCEEDED


async def test_approving_the_whole_amount_makes_the_payment_refunded(
    api: Api, admin: BackOffice
) -> None:
    _, refund = await held(api, admin, 100)
    approved = await admin.approve(refund.id)
    assert approved.payment.state == S.STATE_REFUNDED


async def test_an_approved_refund_the_channel_refuses_fails_and_frees_its_amount(
    api: Api, admin: BackOffice, db: asyncpg.Pool
) -> None:
    await admin.set_thresholds(usd(50))
    payment = await api.captured(amount=usd(100), payment_method=card(REFUND_FAILS))
    refund = (await api.refund(payment.id, usd(80))).refund

    approved = await admin.approve(refund.id)

    assert approved.refund.state == R.STATE_FAILED
    assert approved.payment.state == S.STATE_CAPTURED
    assert approved.payment.amount_refunded == usd(0)
    assert [a["outcome"] for a in await refund_attempts(db, api.merchant_id)] == ["failed"]
    # The whole amount is refundable again (and held again: it is above the threshold).
    again = await api.refund(payment.id)
    assert (again.refund.amount, again.refund.state) == (usd(100), R.STATE_PENDING_REVIEW)


async def test_reject_frees_the_amount_and_never_calls_the_channel(
    api: Api, admin: BackOffice, db: asyncpg.Pool
) -> None:
    payment, refund = await held(api, admin, 80)

    rejected = await admin.reject(refund.id, reason="customer kept the goods")

    assert rejected.refund.state == R.STATE_REJECTED
    assert rejected.refund.rejection_reason == "customer kept the goods"
    assert rejected.payment.state == S.STATE_CAPTURED
    assert await refund_attempts(db, api.merchant_id) == []
    again = await api.refund(payment.id, usd(100))
    assert again.refund.state == R.STATE_PENDING_REVIEW
    shown = await api.get(payment.id)
    assert [r.state for r in shown.refunds] == [R.STATE_REJECTED, R.STATE_PENDING_REVIEW]


@pytest.mark.parametrize("first", ["approve", "reject"])
@pytest.mark.parametrize("then", ["approve", "reject"])
async def test_a_decided_refund_cannot_be_decided_again(
    api: Api, admin: BackOffice, first: str, then: str
) -> None:
    _, refund = await held(api, admin)
    await getattr(admin, first)(refund.id)
    await expect_error(getattr(admin, then)(refund.id), FAILED_PRECONDITION, "REFUND_NOT_IN_REVIEW")


async def test_an_ordinary_refund_cannot_be_approved(api: Api, admin: BackOffice) -> None:
    payment = await api.captured()
    refund = (await api.refund(payment.id)).refund
    await expect_error(admin.approve(refund.id), FAILED_PRECONDITION, "REFUND_NOT_IN_REVIEW")


async def test_unknown_and_other_merchants_refunds_are_not_found(
    api: Api, other_api: Api, admin: BackOffice
) -> None:
    unknown = "re_01JD0Z8W7X6V5T4S3R2Q1P0N9M"
    theirs = (await other_api.refund((await other_api.captured()).id)).refund.id
    for refund_id in (unknown, theirs):
        await expect_error(admin.approve(refund_id), NOT_FOUND, "REFUND_NOT_FOUND")
        await expect_error(admin.reject(refund_id), NOT_FOUND, "REFUND_NOT_FOUND")


class FlagEveryRefund:
    """A risk engine that wants a person to look at every refund."""

    def flags_refund(self, payment: Payment, amount: Money) -> bool:
        return True


async def test_a_refund_the_risk_engine_flags_is_held_whatever_its_amount(
    api: Api, services: Services, settings: Settings, db: asyncpg.Pool
) -> None:
    # The same service as the server's, but with a risk engine that flags
    # refunds (the seam RefundRiskCheck, default: flags nothing).
    flagging = PaymentService(
        executor=services.executor,
        repository=services.repository,
        gate=services.gate,
        risk=services.risk_screen,
        router=Router([SimulatedAcquirer(SANDBOX)], timeout_s=settings.channel_timeout_s),
        settings=ServiceSettings(fingerprint_key=settings.card_fingerprint_key),
        vault=services.vault,
        refund_risk=FlagEveryRefund(),
    )
    payment = await api.captured(amount=usd(100))
    state_of_refund: Encoder[tuple[Refund, Payment]] = Encoder(
        success=lambda result: result[0].state.value.encode(),
        failure=lambda error: error.reason.name.encode(),
    )

    reply = await flagging.refund_payment(
        RefundPayment(api.merchant_id, payment.id, Money(100, "USD")),
        RequestIdentity(new_request_id(), b"fingerprint"),
        state_of_refund,
    )

    assert reply == Reply(True, b"pending_review")  # 1.00 USD, no threshold: held by risk alone
    assert (await api.get(payment.id)).refunds[0].state == R.STATE_PENDING_REVIEW
    assert await refund_attempts(db, api.merchant_id) == []


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


# --- the review queue ----------------------------------------------------------------------


async def test_list_refunds_filters_the_review_queue_and_pages(
    api: Api, admin: BackOffice, other_api: Api, metadata: Metadata
) -> None:
    await admin.set_thresholds(usd(5))
    queued = []
    for _ in range(3):
        payment = await api.captured()
        queued.append((await api.refund(payment.id)).refund.id)
    settled = (await api.refund((await api.captured()).id, usd(1))).refund.id
    await other_api.refund((await other_api.captured()).id)

    seen: list[str] = []
    token = ""
    while True:
        page = await admin.refunds(states=[R.STATE_PENDING_REVIEW], page_size=2, page_token=token)
        assert len(page.refunds) <= 2
        seen.extend(r.id for r in page.refunds)
        token = page.next_page_token
        if not token:
            break
    assert seen == queued[::-1]  # newest first, only this merchant's, only held ones

    as_merchant = build(svc.ListRefundsRequest)
    everything = await admin.payments.ListRefunds(as_merchant, metadata=metadata)
    assert {r.id for r in everything.refunds} == {*queued, settled}
    one_payment = await admin.refunds(payment_id=everything.refunds[0].payment_id)
    assert [r.id for r in one_payment.refunds] == [everything.refunds[0].id]


async def test_list_refunds_refuses_a_token_issued_for_other_filters(
    api: Api, admin: BackOffice
) -> None:
    for _ in range(2):
        await api.refund((await api.captured()).id)
    page = await admin.refunds(page_size=1)
    assert page.next_page_token
    await expect_invalid(
        admin.refunds(page_size=1, page_token=page.next_page_token, states=[R.STATE_FAILED]),
        "page_token",
        reason="INVALID_PAGE_TOKEN",
    )
    payments_page = await api.list(page_size=1)
    await expect_invalid(
        admin.refunds(page_token=payments_page.next_page_token or "x.y"),
        "page_token",
        reason="INVALID_PAGE_TOKEN",
    )


# --- merchant settings ---------------------------------------------------------------------


async def test_settings_default_to_no_thresholds_and_round_trip(
    admin: BackOffice, db: asyncpg.Pool, merchant_id: str
) -> None:
    get = settings_svc.GetMerchantSettingsRequest()
    default = (await admin.settings.GetMerchantSettings(get, metadata=admin.metadata)).settings
    assert list(default.refund_review_thresholds) == []
    assert not default.HasField("update_time")

    updated = await admin.set_thresholds(usd(50), money(0, currency="EUR"))
    shown = (await admin.settings.GetMerchantSettings(get, metadata=admin.metadata)).settings
    assert wire(shown) == wire(updated)
    assert list(shown.refund_review_thresholds) == [usd(50), money(0, currency="EUR")]
    assert shown.HasField("update_time")

    cleared = await admin.set_thresholds()
    assert list(cleared.refund_review_thresholds) == []

    first, second = await audit_rows(db, merchant_id)
    assert first["action"] == "merchant_settings.update"
    assert first["before"] == {"refund_review_thresholds": []}
    assert first["after"] == {
        "refund_review_thresholds": [
            {"currency": "USD", "amount_minor": 5000},
            {"currency": "EUR", "amount_minor": 0},
        ]
    }
    assert second["before"] == first["after"]
    assert second["after"] == {"refund_review_thresholds": []}


async def test_a_repeated_settings_update_replays_and_audits_once(
    admin: BackOffice, db: asyncpg.Pool, merchant_id: str
) -> None:
    request = build(
        settings_svc.UpdateMerchantSettingsRequest,
        settings=settings_svc.MerchantSettings(refund_review_thresholds=[usd(10)]),
    )
    first = await admin.settings.UpdateMerchantSettings(request, metadata=admin.metadata)
    second = await admin.settings.UpdateMerchantSettings(request, metadata=admin.metadata)
    assert wire(first) == wire(second)
    assert len(await audit_rows(db, merchant_id)) == 1


INVALID_SETTINGS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown currency": (
        {
            "settings": settings_svc.MerchantSettings(
                refund_review_thresholds=[money(1, currency="XYZ")]
            )
        },
        "settings.refund_review_thresholds[0].currency_code",
    ),
    "negative amount": (
        {"settings": settings_svc.MerchantSettings(refund_review_thresholds=[money(-1)])},
        "settings.refund_review_thresholds[0]",
    ),
    "two thresholds for one currency": (
        {"settings": settings_svc.MerchantSettings(refund_review_thresholds=[usd(1), usd(2)])},
        "settings.refund_review_thresholds[1].currency_code",
    ),
    "unknown mask path": ({"update_mask": FieldMask(paths=["fees"])}, "update_mask"),
    "nothing to update": ({}, "update_mask"),
    "no request_id": (
        {"request_id": "", "update_mask": FieldMask(paths=["refund_review_thresholds"])},
        "request_id",
    ),
}


@pytest.mark.parametrize(("fields", "violation"), INVALID_SETTINGS.values(), ids=INVALID_SETTINGS)
async def test_invalid_settings_are_refused_with_field_violations(
    admin: BackOffice, db: asyncpg.Pool, merchant_id: str, fields: dict[str, Any], violation: str
) -> None:
    request = build(settings_svc.UpdateMerchantSettingsRequest, **fields)
    await expect_invalid(
        admin.settings.UpdateMerchantSettings(request, metadata=admin.metadata), violation
    )
    assert await audit_rows(db, merchant_id) == []


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_decisions_validate_the_refund_id(admin: BackOffice, decision: str) -> None:
    await expect_invalid(getattr(admin, decision)("pay_01JD0Z8W7X6V5T4S3R2Q1P0N9M"), "refund_id")
    await expect_invalid(getattr(admin, decision)(""), "refund_id")
    await expect_invalid(admin.reject("re_01JD0Z8W7X6V5T4S3R2Q1P0N9M", reason="x" * 501), "reason")
