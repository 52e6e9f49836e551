"""CreatePayment and GetPayment: what a new payment looks like on the wire."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from google.type import money_pb2

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.api import Api
from tests.support.requests import (
    AMEX,
    MASTERCARD,
    OTHER_VALID,
    VISA,
    S,
    card,
    create_request,
    manual_capture,
    manual_confirmation,
    money,
    usd,
    wire,
)

PAYMENT_ID = re.compile(r"pay_[0-9A-HJKMNP-TV-Z]{26}")


def _close_to_now(stamp: datetime) -> bool:
    return abs(datetime.now(UTC) - stamp) < timedelta(minutes=1)


async def test_automatic_capture_payment_is_captured_in_one_call(api: Api) -> None:
    payment = await api.create(amount=usd(10, 50))

    assert payment.state == S.STATE_CAPTURED
    assert payment.amount == usd(10, 50)
    assert payment.amount_captured == usd(10, 50)
    assert payment.amount_refunded == usd(0)
    assert payment.capture_method == pb.CAPTURE_METHOD_AUTOMATIC
    assert payment.confirmation_method == pb.CONFIRMATION_METHOD_AUTOMATIC
    assert not payment.HasField("failure")


async def test_manual_capture_payment_stops_at_authorized(api: Api) -> None:
    payment = await api.create(**manual_capture())

    assert payment.state == S.STATE_AUTHORIZED
    assert payment.amount == usd(10)
    assert payment.amount_captured == usd(0)
    assert payment.capture_method == pb.CAPTURE_METHOD_MANUAL


async def test_manual_confirmation_without_payment_method_waits_for_confirmation(api: Api) -> None:
    payment = await api.create(**manual_confirmation())

    assert payment.state == S.STATE_REQUIRES_CONFIRMATION
    assert payment.confirmation_method == pb.CONFIRMATION_METHOD_MANUAL
    assert not payment.HasField("payment_method")
    assert not payment.HasField("risk")
    assert payment.channel == ""
    assert payment.channel_reference == ""
    assert payment.amount_captured == usd(0)


async def test_manual_confirmation_with_payment_method_keeps_the_masked_card(api: Api) -> None:
    payment = await api.create(**manual_confirmation(payment_method=card(MASTERCARD)))

    assert payment.state == S.STATE_REQUIRES_CONFIRMATION
    assert payment.payment_method.card.brand == "mastercard"
    assert payment.payment_method.card.last4 == "4444"
    assert not payment.HasField("risk")
    assert payment.channel == ""


async def test_payment_ids_are_pay_followed_by_a_ulid_and_unique(api: Api) -> None:
    first = await api.create()
    second = await api.create()

    assert PAYMENT_ID.fullmatch(first.id), first.id
    assert PAYMENT_ID.fullmatch(second.id), second.id
    assert first.id != second.id


async def test_payment_belongs_to_the_calling_merchant(api: Api) -> None:
    payment = await api.create()

    assert payment.merchant_id == api.merchant_id


@pytest.mark.parametrize(
    "amount",
    [
        usd(10, 50),
        usd(0, 1),
        money(500, 0, "JPY"),
        money(1, 234_000_000, "BHD"),
        money(7, 0, "EUR"),
    ],
    ids=["USD 10.50", "USD 0.01", "JPY 500", "BHD 1.234", "EUR 7"],
)
async def test_money_is_returned_exactly_as_given(api: Api, amount: money_pb2.Money) -> None:
    payment = await api.create(amount=amount)

    assert payment.state == S.STATE_CAPTURED
    assert payment.amount == amount
    assert payment.amount_captured == amount
    assert payment.amount_refunded == money_pb2.Money(currency_code=amount.currency_code)


@pytest.mark.parametrize(
    ("number", "brand"),
    [(VISA, "visa"), (MASTERCARD, "mastercard"), (AMEX, "amex"), (OTHER_VALID, "discover")],
)
async def test_card_is_masked_and_never_returned_in_full(api: Api, number: str, brand: str) -> None:
    request = create_request(payment_method=card(number, exp_month=7, cvc="9876"))

    response = await api.call("CreatePayment", request)
    fetched = await api.call("GetPayment", svc.GetPaymentRequest(payment_id=response.payment.id))
    listed = await api.list()

    shown = response.payment.payment_method.card
    assert (shown.brand, shown.bin, shown.last4) == (brand, number[:6], number[-4:])
    assert (shown.exp_month, shown.exp_year) == (7, request.payment_method.card.exp_year)
    assert re.fullmatch(r"[0-9a-f]{32}", shown.fingerprint)
    for message in (response, fetched, listed):
        assert number.encode() not in wire(message)
        assert b"9876" not in wire(message)


async def test_card_fingerprint_is_the_same_for_the_same_card_only(api: Api) -> None:
    first = await api.create(payment_method=card(VISA))
    again = await api.create(
        payment_method=card(VISA, exp_year=first.payment_method.card.exp_year + 1)
    )
    other = await api.create(payment_method=card(MASTERCARD))

    assert first.payment_method.card.fingerprint == again.payment_method.card.fingerprint
    assert first.payment_method.card.fingerprint != other.payment_method.card.fingerprint


async def test_risk_assessment_is_present_once_confirmed(api: Api) -> None:
    payment = await api.create(amount=usd(25))

    assert payment.risk.decision == pb.RiskAssessment.DECISION_APPROVE
    assert 0 <= payment.risk.score < 80
    assert list(payment.risk.reasons) == []


async def test_large_amount_raises_the_risk_score_without_declining(api: Api) -> None:
    payment = await api.create(amount=usd(20_000))

    assert payment.state == S.STATE_CAPTURED
    assert payment.risk.decision == pb.RiskAssessment.DECISION_APPROVE
    assert payment.risk.score > 0
    assert "large_amount" in payment.risk.reasons


async def test_channel_and_reference_are_set_once_routed(api: Api) -> None:
    payment = await api.create()

    assert payment.channel == "sandbox_card"
    assert payment.channel_reference.startswith("sbx_")


async def test_create_and_update_times_are_set(api: Api) -> None:
    payment = await api.create()

    created = payment.create_time.ToDatetime(tzinfo=UTC)
    updated = payment.update_time.ToDatetime(tzinfo=UTC)
    assert _close_to_now(created)
    assert created <= updated
    assert _close_to_now(updated)


async def test_customer_description_and_metadata_are_kept(api: Api) -> None:
    payment = await api.create(
        customer_id="cus_42", description="Order #42", metadata={"order": "42", "note": "gift"}
    )

    assert payment.customer_id == "cus_42"
    assert payment.description == "Order #42"
    assert dict(payment.metadata) == {"order": "42", "note": "gift"}


async def test_get_returns_the_payment_as_created(api: Api) -> None:
    created = await api.create(metadata={"k": "v"})

    fetched = await api.get(created.id)

    assert wire(fetched) == wire(created)


async def test_unspecified_methods_are_returned_as_automatic(api: Api) -> None:
    payment = await api.create(
        capture_method=pb.CAPTURE_METHOD_UNSPECIFIED,
        confirmation_method=pb.CONFIRMATION_METHOD_UNSPECIFIED,
    )

    assert payment.capture_method == pb.CAPTURE_METHOD_AUTOMATIC
    assert payment.confirmation_method == pb.CONFIRMATION_METHOD_AUTOMATIC
    assert payment.state == S.STATE_CAPTURED


async def test_card_without_cvc_or_holder_name_is_accepted(api: Api) -> None:
    payment = await api.create(payment_method=card(VISA, cvc="", holder_name=""))

    assert payment.state == S.STATE_CAPTURED


async def test_field_limits_are_inclusive(api: Api) -> None:
    metadata = {f"{i:040d}": "v" * 500 for i in range(50)}
    payment = await api.create(
        request_id="r" * 255,
        customer_id="c" * 255,
        description="d" * 1000,
        metadata=metadata,
        payment_method=card(VISA, holder_name="h" * 200, cvc="1234"),
    )

    assert payment.state == S.STATE_CAPTURED
    assert dict(payment.metadata) == metadata
