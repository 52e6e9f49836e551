"""One serialisation per change (issue 18): replies and event snapshots share the bytes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message

from core.api.replies import payment_encoder
from core.domain.money import Money
from core.domain.payment import (
    AttemptRecord,
    CaptureMethod,
    CardSummary,
    ConfirmationMethod,
    Failure,
    Payment,
    PaymentState,
    Refund,
    RefundState,
    RiskAssessment,
    RiskDecision,
    RoutingRecord,
)
from core.events.snapshot import payment_snapshot
from core.wire import convert, serialized
from paycore.v1 import account_service_pb2 as account_svc
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import risk_service_pb2 as risk_svc

AT = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)

# Every response answered with payment_encoder (core/api/*handlers.py).
RESPONSES: list[Callable[..., Message]] = [
    svc.CreatePaymentResponse,
    svc.ConfirmPaymentResponse,
    svc.CapturePaymentResponse,
    svc.CancelPaymentResponse,
    svc.UpdatePaymentResponse,
    risk_svc.ApproveReviewResponse,
    risk_svc.RejectReviewResponse,
    account_svc.TopUpWalletResponse,
    account_svc.PayFromWalletResponse,
]


def rich_payment(amount: int = 1999) -> Payment:
    """A payment with every part the API shows filled in (a long message: >127 bytes)."""
    return Payment(
        id="pay_1",
        merchant_id="m_1",
        state=PaymentState.PARTIALLY_REFUNDED,
        amount=Money(amount, "EUR"),
        amount_captured=Money(amount, "EUR"),
        amount_refunded=Money(500, "EUR"),
        capture_method=CaptureMethod.AUTOMATIC,
        confirmation_method=ConfirmationMethod.AUTOMATIC,
        card=CardSummary("visa", "424242", "4242", 12, 2030, "fp_1"),
        customer_id="cus_1",
        description="a long description " * 20,
        metadata={"order": "o-1", "b": "2", "a": "1"},
        risk=RiskAssessment(12, RiskDecision.APPROVE, ("new_customer",)),
        failure=Failure("none", "nothing"),
        channel="sandbox",
        channel_reference="ref_1",
        refunds=(
            Refund(
                id="re_1",
                payment_id="pay_1",
                amount=Money(500, "EUR"),
                state=RefundState.SUCCEEDED,
                reason="requested_by_customer",
                created_at=AT,
            ),
        ),
        created_at=AT,
        updated_at=AT,
        routing=RoutingRecord(("sandbox", "backup"), ("sandbox: chosen",)),
        attempts=(
            AttemptRecord("att_1", "authorize", "sandbox", Money(amount, "EUR"), "succeeded", AT),
        ),
    )


@pytest.mark.parametrize("response_type", RESPONSES, ids=lambda r: r.__name__)
def test_a_payment_reply_is_byte_for_byte_the_response_message(
    response_type: Callable[..., Message],
) -> None:
    payment = rich_payment()
    expected = response_type(payment=convert.payment_to_proto(payment)).SerializeToString(
        deterministic=True
    )

    assert serialized.payment_reply(response_type)(payment) == expected
    assert response_type.FromString(expected).payment == convert.payment_to_proto(payment)  # type: ignore[attr-defined]


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[Payment]:
    """The payments converted to their message (``convert.payment_to_proto``) from now on."""
    converted: list[Payment] = []
    original = convert.payment_to_proto

    def counted(payment: Payment) -> object:
        converted.append(payment)
        return original(payment)

    monkeypatch.setattr(convert, "payment_to_proto", counted)
    return converted


def test_a_change_is_converted_once_for_its_events_and_its_reply(
    conversions: list[Payment],
) -> None:
    changed = rich_payment(2500)
    reply = payment_encoder(svc.CreatePaymentResponse).success(changed)
    snapshots = [payment_snapshot(changed), payment_snapshot(changed)]

    assert conversions == [changed]
    assert (
        snapshots[0]
        == snapshots[1]
        == svc.CreatePaymentResponse.FromString(reply).payment.SerializeToString(deterministic=True)
    )


def test_an_equal_but_new_payment_value_is_converted_again(conversions: list[Payment]) -> None:
    first, second = rich_payment(3000), rich_payment(3000)

    assert payment_snapshot(first) == payment_snapshot(second)
    assert len(conversions) == 2
