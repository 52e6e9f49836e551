"""Payments of every shape a read can return, to compare their API encodings byte for byte.

Used by tests/unit/test_payment_encoding.py, whose golden replies were made
from these values by the converter of d76f7a3 (before issue 18's faster one).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from core.domain.money import Money
from core.domain.payment import (
    AttemptRecord,
    BankAccount,
    BankTransferDetails,
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
from tests.support.payments import domain_payment

AT = datetime(2026, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)
LATER = AT + timedelta(seconds=3, microseconds=1)
CARD = CardSummary("visa", "424242", "4242", 12, 2030, "fp_abc")


def _attempt(number: int, currency: str, **fields: object) -> AttemptRecord:
    values: dict[str, object] = {
        "id": f"att_{number}",
        "operation": "authorize",
        "channel": "sandbox",
        "amount": Money(1500, currency),
        "outcome": "approved",
        "created_at": AT,
        "completed_at": LATER,
        "channel_reference": f"sb_{number}",
    }
    values.update(fields)
    return AttemptRecord(**values)  # type: ignore[arg-type]


def _payment(**fields: object) -> Payment:
    """A payment of ``fields``; by default nothing captured, automatic, no card, made at AT."""
    return domain_payment(**{"created_at": AT, "updated_at": AT, **fields})


def samples() -> dict[str, Payment]:
    """Named payments covering every optional part of the Payment message."""
    base = _payment(
        id="pay_01",
        merchant_id="m_1",
        state=PaymentState.REQUIRES_CONFIRMATION,
        amount=Money(1500, "USD"),
        confirmation_method=ConfirmationMethod.MANUAL,
    )
    captured = _payment(
        id="pay_02",
        merchant_id="m_1",
        state=PaymentState.CAPTURED,
        amount=Money(123456789, "USD"),
        amount_captured=Money(123456789, "USD"),
        card=CARD,
        updated_at=LATER,
        customer_id="cus_9",
        description="Order #42 — café",
        metadata={"order": "42", "z": "last", "a": "first", "emoji": "☕"},
        risk=RiskAssessment(12, RiskDecision.APPROVE, ("new_card", "velocity")),
        channel="sandbox",
        channel_reference="sb_1",
        routing=RoutingRecord(("sandbox", "backup"), ("sandbox: approved",)),
        attempts=(_attempt(1, "USD"),),
    )
    refunds = (
        Refund("ref_1", "pay_03", Money(100, "JPY"), RefundState.SUCCEEDED, "requested", AT),
        Refund(
            "ref_2",
            "pay_03",
            Money(50, "JPY"),
            RefundState.FAILED,
            "duplicate",
            LATER,
            channel_reference="sb_r2",
            failure=Failure("channel_error", "the channel said no"),
        ),
        Refund(
            "ref_3",
            "pay_03",
            Money(7, "JPY"),
            RefundState.REJECTED,
            "fraudulent",
            LATER,
            rejection_reason="not ours",
        ),
        Refund("ref_4", "pay_03", Money(1, "JPY"), RefundState.PENDING_REVIEW, "other", LATER),
    )
    refunded = _payment(
        id="pay_03",
        merchant_id="m_2",
        state=PaymentState.PARTIALLY_REFUNDED,
        amount=Money(1000, "JPY"),
        amount_captured=Money(900, "JPY"),
        amount_refunded=Money(100, "JPY"),
        capture_method=CaptureMethod.MANUAL,
        card=CARD,
        updated_at=LATER,
        refunds=refunds,
        attempts=(
            _attempt(1, "JPY", amount=Money(1000, "JPY")),
            _attempt(2, "JPY", operation="capture", amount=Money(900, "JPY")),
            _attempt(
                3,
                "JPY",
                operation="refund",
                refund_id="ref_2",
                outcome="failed",
                failure_code="channel_error",
                amount=Money(50, "JPY"),
            ),
        ),
    )
    transfer = _payment(
        id="pay_04",
        merchant_id="m_3",
        state=PaymentState.PENDING,
        amount=Money(123456, "BHD"),
        created_at=datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
        updated_at=datetime(2038, 1, 19, 3, 14, 8, 1, tzinfo=UTC),
        bank_transfer=BankTransferDetails(
            "Ada Lovelace",
            "ada@example.com",
            "RF18539007547034",
            BankAccount("DE89370400440532013000", "COBADEFFXXX", "Paycore Collections"),
        ),
        operation_in_flight="authorize",
        attempts=(
            _attempt(
                1,
                "BHD",
                outcome="",
                completed_at=None,
                needs_attention=True,
                amount=Money(123456, "BHD"),
            ),
        ),
    )
    transfer_unregistered = _payment(
        id="pay_05",
        merchant_id="m_3",
        state=PaymentState.PENDING,
        amount=Money(5, "EUR"),
        bank_transfer=BankTransferDetails("Grace Hopper"),
    )
    declined = _payment(
        id="pay_06",
        merchant_id="m_1",
        state=PaymentState.DECLINED,
        amount=Money(999, "USD"),
        card=CARD,
        updated_at=LATER,
        failure=Failure("card_declined", "Do not honor"),
        risk=RiskAssessment(88, RiskDecision.DECLINE, ("blocked_bin",)),
        attempts=(
            _attempt(
                1, "USD", outcome="declined", failure_code="card_declined", amount=Money(999, "USD")
            ),
        ),
    )
    review = _payment(
        id="pay_07",
        merchant_id="m_1",
        state=PaymentState.REQUIRES_REVIEW,
        amount=Money(1, "USD"),
        card=CARD,
        risk=RiskAssessment(50, RiskDecision.REVIEW),
    )
    wallet = _payment(
        id="pay_08",
        merchant_id="m_4",
        state=PaymentState.AUTHORIZED,
        amount=Money(0, "USD"),
        capture_method=CaptureMethod.MANUAL,
        metadata={"paycore.wallet_account_id": "acc_7"},
        failure=Failure("", ""),
    )
    others = {
        f"state_{state.name.lower()}": _payment(
            id=f"pay_s{index}",
            merchant_id="m_5",
            state=state,
            amount=Money(10, "USD"),
            card=CARD,
            created_at=AT.replace(microsecond=0),
        )
        for index, state in enumerate(PaymentState)
    }
    return {
        "requires_confirmation": base,
        "captured": captured,
        "partially_refunded": refunded,
        "bank_transfer": transfer,
        "bank_transfer_unregistered": transfer_unregistered,
        "declined": declined,
        "review": review,
        "wallet": wallet,
        **others,
    }
