"""The payment lifecycle over the wire: each legal transition (confirm, capture, cancel, refund)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.api import Api
from tests.support.expect import FAILED_PRECONDITION, expect_error
from tests.support.requests import (
    MASTERCARD,
    S,
    build,
    card,
    manual_capture,
    manual_confirmation,
    usd,
)

REFUND_ID = re.compile(r"re_[0-9A-HJKMNP-TV-Z]{26}")
R = pb.Refund


# --- ConfirmPayment -----------------------------------------------------------------------


async def test_confirm_with_automatic_capture_captures(api: Api) -> None:
    payment = await api.create(**manual_confirmation())

    confirmed = await api.confirm(payment.id)

    assert confirmed.state == S.STATE_CAPTURED
    assert confirmed.amount_captured == payment.amount
    assert confirmed.risk.decision == pb.RiskAssessment.DECISION_APPROVE
    assert confirmed.channel == "sandbox_card"
    assert confirmed.channel_reference.startswith("sbx_")
    assert confirmed.payment_method.card.last4 == "4242"


async def test_confirm_with_manual_capture_authorizes(api: Api) -> None:
    payment = await api.create(**manual_confirmation(**manual_capture()))

    confirmed = await api.confirm(payment.id)

    assert confirmed.state == S.STATE_AUTHORIZED
    assert confirmed.amount_captured == usd(0)


async def test_confirm_replaces_the_payment_method_given_at_creation(api: Api) -> None:
    payment = await api.create(**manual_confirmation(payment_method=card()))

    confirmed = await api.confirm(payment.id, MASTERCARD)

    assert confirmed.payment_method.card.brand == "mastercard"
    assert confirmed.payment_method.card.last4 == "4444"


# --- CapturePayment -----------------------------------------------------------------------


async def test_full_capture_captures_the_authorized_amount(api: Api) -> None:
    payment = await api.authorized(amount=usd(30))

    captured = await api.capture(payment.id)

    assert captured.state == S.STATE_CAPTURED
    assert captured.amount_captured == usd(30)
    assert captured.update_time.ToDatetime() >= payment.update_time.ToDatetime()


async def test_capture_of_exactly_the_authorized_amount(api: Api) -> None:
    payment = await api.authorized(amount=usd(30))

    captured = await api.capture(payment.id, usd(30))

    assert captured.amount_captured == usd(30)


async def test_partial_capture_captures_less_and_releases_the_rest(api: Api) -> None:
    payment = await api.authorized(amount=usd(30))

    captured = await api.capture(payment.id, usd(12, 50))

    assert captured.state == S.STATE_CAPTURED
    assert captured.amount == usd(30)
    assert captured.amount_captured == usd(12, 50)
    await expect_error(
        api.capture(payment.id, usd(1)), FAILED_PRECONDITION, "PAYMENT_NOT_CAPTURABLE"
    )


# --- CancelPayment ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", [S.STATE_REQUIRES_CONFIRMATION, S.STATE_AUTHORIZED], ids=S.State.Name
)
async def test_cancel_before_capture(api: Api, state: int) -> None:
    payment = await api.in_state(state)

    canceled = await api.cancel(payment.id, reason="customer asked")

    assert canceled.state == S.STATE_CANCELED
    assert canceled.amount_captured == usd(0)
    assert (await api.get(payment.id)).state == S.STATE_CANCELED


# --- RefundPayment ------------------------------------------------------------------------


async def test_full_refund_refunds_everything(api: Api) -> None:
    payment = await api.captured(amount=usd(20))

    response = await api.refund(payment.id, usd(20), reason="returned")

    refund = response.refund
    assert REFUND_ID.fullmatch(refund.id), refund.id
    assert refund.payment_id == payment.id
    assert refund.amount == usd(20)
    assert refund.state == R.STATE_SUCCEEDED
    assert refund.reason == "returned"
    assert refund.channel_reference
    assert refund.HasField("create_time")
    assert response.payment.state == S.STATE_REFUNDED
    assert response.payment.amount_refunded == usd(20)


async def test_partial_refunds_up_to_the_total(api: Api) -> None:
    payment = await api.captured(amount=usd(20))

    first = await api.refund(payment.id, usd(5))
    second = await api.refund(payment.id, usd(7, 50))
    third = await api.refund(payment.id, usd(7, 50))

    assert first.payment.state == S.STATE_PARTIALLY_REFUNDED
    assert first.payment.amount_refunded == usd(5)
    assert second.payment.state == S.STATE_PARTIALLY_REFUNDED
    assert second.payment.amount_refunded == usd(12, 50)
    assert third.payment.state == S.STATE_REFUNDED
    assert third.payment.amount_refunded == usd(20)
    assert len({first.refund.id, second.refund.id, third.refund.id}) == 3


async def _captured_20_refunded_6(api: Api) -> str:
    payment = await api.captured(amount=usd(20))
    await api.refund(payment.id, usd(6))
    return payment.id


async def _captured_10_of_30(api: Api) -> str:
    payment = await api.authorized(amount=usd(30))
    await api.capture(payment.id, usd(10))
    return payment.id


@pytest.mark.parametrize(
    ("prepare", "rest", "captured"),
    [(_captured_20_refunded_6, 14, 20), (_captured_10_of_30, 10, 10)],
    ids=["after a partial refund", "after a partial capture"],
)
async def test_refund_without_amount_refunds_the_rest(
    api: Api, prepare: Any, rest: int, captured: int
) -> None:
    payment_id = await prepare(api)
    await expect_error(
        api.refund(payment_id, usd(rest, 1)), FAILED_PRECONDITION, "REFUND_EXCEEDS_CAPTURED"
    )

    response = await api.refund(payment_id)

    assert response.refund.amount == usd(rest)
    assert response.payment.state == S.STATE_REFUNDED
    assert response.payment.amount_refunded == usd(captured)


async def test_get_embeds_refunds_oldest_first(api: Api) -> None:
    payment = await api.captured(amount=usd(20))
    first = (await api.refund(payment.id, usd(1), reason="one")).refund
    second = (await api.refund(payment.id, usd(2), reason="two")).refund

    fetched = await api.get(payment.id)

    assert [r.id for r in fetched.refunds] == [first.id, second.id]
    assert list(fetched.refunds) == [first, second]
    assert fetched.amount_refunded == usd(3)


async def test_a_full_lifecycle_is_reflected_by_get(api: Api) -> None:
    created = await api.create(**manual_confirmation(**manual_capture(amount=usd(50))))
    await api.update(created.id, amount=usd(40))
    await api.confirm(created.id)
    await api.capture(created.id, usd(30))
    await api.refund(created.id, usd(10))
    await api.call(
        "RefundPayment", build(svc.RefundPaymentRequest, payment_id=created.id, reason="rest")
    )

    payment = await api.get(created.id)

    assert payment.state == S.STATE_REFUNDED
    assert (payment.amount, payment.amount_captured, payment.amount_refunded) == (
        usd(40),
        usd(30),
        usd(30),
    )
    assert [r.amount for r in payment.refunds] == [usd(10), usd(20)]
    assert payment.refunds[1].reason == "rest"
