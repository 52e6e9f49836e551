"""Refund review over gRPC: which refunds are held, and what approval and rejection do.

Real PostgreSQL and Redis behind a real server. Callers are named only through
the ``metadata`` / ``admin_metadata`` fixtures (the merchant's own key and its
back office), so these tests keep working when API keys replace them.
"""

from __future__ import annotations

import asyncpg
import pytest

from core.app import Services
from core.config import Settings
from core.domain.commands import RefundPayment
from core.domain.money import Money
from core.domain.payment import Payment, Refund
from core.service.execution import Encoder, Reply, RequestIdentity
from core.service.payments.service import PaymentService, ServiceSettings
from paycore.v1 import payment_pb2 as pb
from router import Router
from router.channels.simulated import SANDBOX, SimulatedAcquirer
from tests.support.api import Api
from tests.support.expect import FAILED_PRECONDITION, NOT_FOUND, expect_error
from tests.support.requests import REFUND_FAILS, card, money, new_request_id, usd

from .back_office import BackOffice, held, refund_attempts

R = pb.Refund
S = pb.Payment


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
