"""Outcomes decided by the sandbox channel's test cards and by risk screening."""

from __future__ import annotations

import pytest

from paycore.v1 import payment_pb2 as pb
from tests.support.api import Api
from tests.support.expect import FAILED_PRECONDITION, expect_error, same_payment
from tests.support.requests import (
    AMEX,
    CAPTURE_REFUSED,
    CARD_DECLINED,
    EXPIRED_CARD,
    INCORRECT_CVC,
    INSUFFICIENT_FUNDS,
    MASTERCARD,
    OTHER_VALID,
    PROCESSING_ERROR,
    REFUND_FAILS,
    RISK_LIMIT_USD,
    VISA,
    S,
    card,
    manual_capture,
    manual_confirmation,
    usd,
)

Decision = pb.RiskAssessment


@pytest.mark.parametrize(
    "number", [VISA, MASTERCARD, AMEX, OTHER_VALID, REFUND_FAILS, CAPTURE_REFUSED]
)
async def test_approving_cards_are_captured(api: Api, number: str) -> None:
    payment = await api.create(payment_method=card(number))

    assert payment.state == S.STATE_CAPTURED
    assert payment.amount_captured == payment.amount
    assert not payment.HasField("failure")


@pytest.mark.parametrize(
    ("number", "code"),
    [
        (CARD_DECLINED, "card_declined"),
        (INSUFFICIENT_FUNDS, "insufficient_funds"),
        (EXPIRED_CARD, "expired_card"),
        (INCORRECT_CVC, "incorrect_cvc"),
    ],
)
async def test_declining_cards_end_declined_with_the_issuer_code(
    api: Api, number: str, code: str
) -> None:
    payment = await api.create(payment_method=card(number))

    assert payment.state == S.STATE_DECLINED
    assert payment.failure.code == code
    assert payment.failure.message
    assert payment.amount_captured == usd(0)
    assert payment.channel == "sandbox_card"
    assert payment.risk.decision == Decision.DECISION_APPROVE


async def test_decline_is_the_same_with_manual_capture(api: Api) -> None:
    payment = await api.create(**manual_capture(payment_method=card(CARD_DECLINED)))

    assert payment.state == S.STATE_DECLINED
    assert payment.failure.code == "card_declined"


async def test_processing_error_card_ends_failed_and_moves_no_money(api: Api) -> None:
    payment = await api.create(payment_method=card(PROCESSING_ERROR))

    assert payment.state == S.STATE_FAILED
    assert payment.failure.code == "processing_error"
    assert payment.amount_captured == usd(0)


async def test_confirming_with_a_declining_card_declines(api: Api) -> None:
    created = await api.create(**manual_confirmation())

    payment = await api.confirm(created.id, INSUFFICIENT_FUNDS)

    assert payment.state == S.STATE_DECLINED
    assert payment.failure.code == "insufficient_funds"


async def test_refund_on_a_refund_failing_card_fails_and_the_amount_stays_refundable(
    api: Api,
) -> None:
    captured = await api.create(payment_method=card(REFUND_FAILS))

    first = await api.refund(captured.id, usd(4))
    second = await api.refund(captured.id)

    assert first.refund.state == pb.Refund.STATE_FAILED
    assert first.refund.amount == usd(4)
    assert first.payment.state == S.STATE_CAPTURED
    assert first.payment.amount_refunded == usd(0)
    # The failed 4.00 is refundable again: a refund of everything asks for all 10.00.
    assert second.refund.amount == usd(10)
    assert second.refund.state == pb.Refund.STATE_FAILED
    payment = await api.get(captured.id)
    assert payment.state == S.STATE_CAPTURED
    assert payment.amount_refunded == usd(0)
    assert [r.state for r in payment.refunds] == [pb.Refund.STATE_FAILED] * 2


@pytest.mark.parametrize("operation", ["capture", "cancel"])
async def test_channel_refusing_capture_or_void_leaves_the_payment_authorized(
    api: Api, operation: str
) -> None:
    authorized = await api.create(**manual_capture(payment_method=card(CAPTURE_REFUSED)))

    call = api.capture(authorized.id) if operation == "capture" else api.cancel(authorized.id)
    error = await expect_error(call, FAILED_PRECONDITION, "CHANNEL_REFUSED")

    assert authorized.id in (error.details() or "")
    after = await api.get(authorized.id)
    assert after.state == S.STATE_AUTHORIZED
    same_payment(authorized, after, but_update_time=True)


async def test_refused_capture_can_be_followed_by_another_operation(api: Api) -> None:
    authorized = await api.create(**manual_capture(payment_method=card(CAPTURE_REFUSED)))
    await expect_error(api.capture(authorized.id), FAILED_PRECONDITION, "CHANNEL_REFUSED")

    # The refusal cleared the in-flight marker: the next call is judged on its own.
    await expect_error(api.cancel(authorized.id), FAILED_PRECONDITION, "CHANNEL_REFUSED")
    same_payment(authorized, await api.get(authorized.id), but_update_time=True)


async def test_amount_above_the_risk_limit_is_declined_by_risk(api: Api) -> None:
    payment = await api.create(amount=usd(RISK_LIMIT_USD, 1))

    assert payment.state == S.STATE_DECLINED
    assert payment.failure.code == "risk_declined"
    assert payment.risk.decision == Decision.DECISION_DECLINE
    assert "amount_over_limit" in payment.risk.reasons
    assert payment.channel == ""
    assert payment.amount_captured == usd(0)


async def test_amount_at_the_risk_limit_is_not_declined(api: Api) -> None:
    payment = await api.create(amount=usd(RISK_LIMIT_USD))

    assert payment.state == S.STATE_CAPTURED
    assert payment.risk.decision == Decision.DECISION_APPROVE
    assert "amount_over_limit" not in payment.risk.reasons


async def test_confirming_an_amount_raised_above_the_limit_is_declined_by_risk(api: Api) -> None:
    created = await api.create(**manual_confirmation())
    await api.update(created.id, amount=usd(RISK_LIMIT_USD + 1))

    payment = await api.confirm(created.id)

    assert payment.state == S.STATE_DECLINED
    assert payment.failure.code == "risk_declined"
    assert payment.risk.decision == Decision.DECISION_DECLINE
