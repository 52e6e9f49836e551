"""The mandate rules (core/domain/mandates.py), without servers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from core.domain.errors import PaycoreError, Reason
from core.domain.mandates import (
    ChargeHistory,
    Frequency,
    Interval,
    Mandate,
    MandateScope,
    MandateStatus,
    MandateUsage,
    check_charge,
    check_recurring,
    revoked,
    verification_refusal,
)
from core.domain.money import Money
from core.domain.payment import (
    CaptureMethod,
    ConfirmationMethod,
    Failure,
    Payment,
    PaymentState,
    RiskAssessment,
    RiskDecision,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SCOPE = MandateScope(MandateUsage.MULTI_USE, Money(5000, "USD"))
TEN = Money(1000, "USD")
NONE_MADE = ChargeHistory()


def mandate(**scope_fields: object) -> Mandate:
    return Mandate(
        id="man_1",
        merchant_id="m_1",
        customer_id="cus_1",
        card_token="tok_1",
        scope=dataclasses.replace(SCOPE, **scope_fields),  # type: ignore[arg-type]
        agreement_id="sbx_1",
        channel="sandbox_card",
        verification_payment_id="pay_v",
        created_at=NOW,
        updated_at=NOW,
    )


def refusal(
    subject: Mandate,
    amount: Money = TEN,
    customer_id: str = "",
    history: ChargeHistory = NONE_MADE,
    at: datetime = NOW,
) -> Reason | None:
    try:
        check_charge(subject, customer_id=customer_id, amount=amount, at=at, history=history)
    except PaycoreError as error:
        return error.reason
    return None


def test_a_charge_within_every_term_is_allowed() -> None:
    assert refusal(mandate(), Money(5000, "USD"), customer_id="cus_1") is None


@pytest.mark.parametrize(
    ("subject", "amount", "customer_id", "history", "reason"),
    [
        (revoked(mandate(), NOW), Money(1000, "USD"), "", ChargeHistory(), Reason.MANDATE_REVOKED),
        (
            mandate(expires_at=NOW),
            Money(1000, "USD"),
            "",
            ChargeHistory(),
            Reason.MANDATE_EXPIRED,
        ),
        (mandate(), Money(1000, "USD"), "cus_2", ChargeHistory(), Reason.MANDATE_CUSTOMER_MISMATCH),
        (mandate(), Money(1000, "EUR"), "", ChargeHistory(), Reason.MANDATE_CURRENCY_MISMATCH),
        (mandate(), Money(5001, "USD"), "", ChargeHistory(), Reason.MANDATE_AMOUNT_EXCEEDED),
        (
            mandate(usage=MandateUsage.SINGLE_USE),
            Money(1000, "USD"),
            "",
            ChargeHistory(first_payment_id="pay_1"),
            Reason.MANDATE_ALREADY_USED,
        ),
        (
            mandate(frequency=Frequency(Interval.MONTH)),
            Money(1000, "USD"),
            "",
            ChargeHistory(first_payment_id="pay_1", in_window=1),
            Reason.MANDATE_FREQUENCY_EXCEEDED,
        ),
    ],
)
def test_each_broken_term_refuses_with_its_own_reason(
    subject: Mandate, amount: Money, customer_id: str, history: ChargeHistory, reason: Reason
) -> None:
    assert refusal(subject, amount, customer_id, history) is reason


def test_a_multi_use_unscheduled_mandate_pays_again_and_again() -> None:
    assert refusal(mandate(), history=ChargeHistory("pay_1", in_window=0)) is None


def test_a_month_is_the_shortest_calendar_month_so_monthly_billing_always_fits() -> None:
    assert Frequency(Interval.MONTH).window() == timedelta(days=28)
    assert Frequency(Interval.WEEK, 2).window() == timedelta(days=14)
    assert Frequency().window() is None


def test_status_is_read_off_the_clock_and_revocation_wins() -> None:
    expiring = mandate(expires_at=NOW + timedelta(hours=1))
    assert expiring.status_at(NOW) is MandateStatus.ACTIVE
    assert expiring.status_at(NOW + timedelta(hours=1)) is MandateStatus.EXPIRED
    assert revoked(expiring, NOW).status_at(NOW + timedelta(hours=2)) is MandateStatus.REVOKED


def test_revoking_twice_keeps_the_first_revocation() -> None:
    once = revoked(mandate(), NOW)
    assert revoked(once, NOW + timedelta(days=1)) is once


def _verification(state: PaymentState, **fields: object) -> Payment:
    return Payment(
        id="pay_v",
        merchant_id="m_1",
        state=state,
        amount=Money(1, "USD"),
        amount_captured=Money(0, "USD"),
        amount_refunded=Money(0, "USD"),
        capture_method=CaptureMethod.MANUAL,
        confirmation_method=ConfirmationMethod.AUTOMATIC,
        card=None,
        created_at=NOW,
        updated_at=NOW,
        **fields,  # type: ignore[arg-type]
    )


def test_a_verification_passes_once_authorized_even_after_its_void() -> None:
    for state in (PaymentState.AUTHORIZED, PaymentState.CANCELED):
        assert verification_refusal(_verification(state, channel_reference="sbx_1")) is None


def test_a_declined_or_held_verification_refuses_the_setup() -> None:
    declined = _verification(
        PaymentState.DECLINED, failure=Failure("card_declined", "The card was declined.")
    )
    held = RiskAssessment(score=60, decision=RiskDecision.REVIEW, reasons=("rule",))
    canceled_held = _verification(PaymentState.CANCELED, risk=held)
    for payment in (declined, _verification(PaymentState.REQUIRES_REVIEW), canceled_held):
        error = verification_refusal(payment)
        assert error is not None
        assert error.reason is Reason.PAYMENT_METHOD_VERIFICATION_FAILED
    assert (
        "card_declined"
        in (verification_refusal(declined) or PaycoreError(Reason.INTERNAL_ERROR)).message
    )


MONTHLY = Frequency(Interval.MONTH)


def recurring_refusal(
    subject: Mandate, amount: Money = TEN, customer_id: str = "cus_1", every: Frequency = MONTHLY
) -> Reason | None:
    try:
        check_recurring(subject, customer_id=customer_id, amount=amount, at=NOW, every=every)
    except PaycoreError as error:
        return error.reason
    return None


@pytest.mark.parametrize(
    ("subject", "amount", "customer_id", "reason"),
    [
        (mandate(), TEN, "cus_1", None),
        # Charges made so far do not matter: each renewal's charge checks those.
        (mandate(frequency=Frequency(Interval.MONTH)), TEN, "cus_1", None),
        (revoked(mandate(), NOW), TEN, "cus_1", Reason.MANDATE_REVOKED),
        (mandate(expires_at=NOW), TEN, "cus_1", Reason.MANDATE_EXPIRED),
        (mandate(), TEN, "cus_2", Reason.MANDATE_CUSTOMER_MISMATCH),
        (mandate(), Money(1000, "EUR"), "cus_1", Reason.MANDATE_CURRENCY_MISMATCH),
        (mandate(), Money(5001, "USD"), "cus_1", Reason.MANDATE_AMOUNT_EXCEEDED),
        (mandate(usage=MandateUsage.SINGLE_USE), TEN, "cus_1", Reason.MANDATE_NOT_MULTI_USE),
    ],
)
def test_a_subscription_takes_a_multi_use_mandate_of_its_customer_that_allows_a_period(
    subject: Mandate, amount: Money, customer_id: str, reason: Reason | None
) -> None:
    assert recurring_refusal(subject, amount, customer_id) is reason


@pytest.mark.parametrize(
    ("allowed", "every", "reason"),
    [
        (Frequency(), Frequency(Interval.DAY), None),  # unscheduled: any renewal
        (MONTHLY, MONTHLY, None),
        (MONTHLY, Frequency(Interval.YEAR), None),
        (MONTHLY, Frequency(Interval.WEEK, 3), Reason.MANDATE_FREQUENCY_EXCEEDED),
        (Frequency(Interval.MONTH, 3), MONTHLY, Reason.MANDATE_FREQUENCY_EXCEEDED),
        (Frequency(Interval.WEEK, 4), MONTHLY, None),  # 28 days fit in the shortest month
    ],
)
def test_a_subscription_renews_no_more_often_than_its_mandate_allows(
    allowed: Frequency, every: Frequency, reason: Reason | None
) -> None:
    assert recurring_refusal(mandate(frequency=allowed), every=every) is reason
