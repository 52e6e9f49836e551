"""Mandates (issue 20): a customer's consent to be charged later, and its rules (pure).

A customer present sets a payment method up (SetupPaymentMethod): the card is
verified at a channel by a small authorization that is then voided, and a
**mandate** records what the customer agreed to: which card token, how often
(``Frequency``), up to how much per charge, in which currency, how many times
(single or multi use), until when. The channel's reference of the verification
is the mandate's ``agreement_id``, which the channel gets with every
merchant-initiated charge made under it.

A merchant-initiated charge (CreatePayment with ``mandate_id`` and
``off_session``) is allowed only inside that scope; ``check_charge`` says why
not, one catalog reason per broken term. A mandate is active until it is
revoked (RevokeMandate) or its ``expires_at`` passes (expiry is read off the
clock, never written).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain.errors import PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import CardSummary, Payment, PaymentState, RiskDecision

VERIFICATION_AMOUNT_MINOR = 1
"""What SetupPaymentMethod authorizes (and voids) to verify a card: one minor unit.

Not zero: a payment's amount is positive (the payments table says so), and
one minor unit is what channels without zero-amount verification accept."""


class MandateUsage(enum.Enum):
    """How many charges a mandate allows."""

    SINGLE_USE = "single_use"
    MULTI_USE = "multi_use"


class MandateStatus(enum.Enum):
    """Whether a mandate allows charges now."""

    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


class Interval(enum.Enum):
    """The unit of a scheduled mandate's period."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"

    @property
    def days(self) -> int:
        """The shortest such period in days: calendar billing always fits inside it.

        A month counts as 28 days and a year as 365, so that charging on the
        same day of every month (or year) never looks too frequent.
        """
        return {"day": 1, "week": 7, "month": 28, "year": 365}[self.value]


@dataclass(frozen=True, slots=True)
class Frequency:
    """How often a merchant may charge: once per ``count`` ``interval``\\s, or unscheduled."""

    interval: Interval | None = None
    """None: unscheduled (charges when the merchant needs them, within the other terms)."""
    count: int = 1

    def window(self) -> timedelta | None:
        """The period in which at most one charge is allowed; None when unscheduled."""
        if self.interval is None:
            return None
        return timedelta(days=self.interval.days * self.count)

    def describe(self) -> str:
        """The period in words, for refusals ("2 month", "unscheduled")."""
        if self.interval is None:
            return "unscheduled"
        return f"{self.count} {self.interval.value}"


@dataclass(frozen=True, slots=True)
class MandateScope:
    """What the customer agreed to."""

    usage: MandateUsage
    max_amount: Money
    """The most one charge may take; its currency is the only one allowed."""
    frequency: Frequency = Frequency()
    expires_at: datetime | None = None
    """None: until revoked."""


@dataclass(frozen=True, slots=True)
class Mandate:
    """A customer's consent to charges of one card token of one merchant."""

    id: str
    merchant_id: str
    customer_id: str
    card_token: str
    scope: MandateScope
    agreement_id: str
    """The channel's reference of the verification: the agreement the channel
    (and the card network) knows this consent by."""
    channel: str
    """The channel that verified the card."""
    verification_payment_id: str
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None = None

    def status_at(self, at: datetime) -> MandateStatus:
        """Revoked, expired (its expiry passed by ``at``) or active."""
        if self.revoked_at is not None:
            return MandateStatus.REVOKED
        expires_at = self.scope.expires_at
        if expires_at is not None and expires_at <= at:
            return MandateStatus.EXPIRED
        return MandateStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class SetupPaymentMethod:
    """SetupPaymentMethod, validated: verify ``card_token`` and record the customer's mandate."""

    merchant_id: str
    customer_id: str
    card_token: str
    scope: MandateScope


@dataclass(frozen=True, slots=True)
class PaymentMethodQuery:
    """One ListPaymentMethods page: a customer's card tokens in id order, after the cursor."""

    merchant_id: str
    customer_id: str
    page_size: int
    after_token: str = ""
    """Keyset cursor: the last card token already returned; "" from the start."""


@dataclass(frozen=True, slots=True)
class SavedPaymentMethod:
    """A card token a customer set up, with every mandate given for it (oldest first)."""

    card_token: str
    card: CardSummary
    mandates: tuple[Mandate, ...]


@dataclass(frozen=True, slots=True)
class MandateCharge:
    """A payment allowed under a mandate: what it is paid with, and what the channel is told."""

    mandate_id: str
    customer_id: str
    card_token: str
    agreement_id: str


UNUSED_BY = (PaymentState.DECLINED, PaymentState.FAILED)
"""How a charge ends that used none of its mandate: it took no money, so it counts
toward neither single use nor the frequency (a declined renewal retried by
dunning must not exhaust the mandate)."""


@dataclass(frozen=True, slots=True)
class ChargeHistory:
    """The charges already made under a mandate, as the mandate check needs them.

    Only charges that used the mandate count: not those that ended ``UNUSED_BY``.
    """

    first_payment_id: str = ""
    """The first payment made under the mandate; "" when none."""
    in_window: int = 0
    """Charges inside the frequency's current window (0 when unscheduled)."""


def check_in_force(mandate: Mandate, at: datetime) -> None:
    """Refuse a charge under ``mandate`` at ``at`` if it was revoked or has expired."""
    status = mandate.status_at(at)
    if status is MandateStatus.REVOKED:
        raise PaycoreError(Reason.MANDATE_REVOKED, mandate_id=mandate.id)
    if status is MandateStatus.EXPIRED:
        expires_at = mandate.scope.expires_at
        raise PaycoreError(Reason.MANDATE_EXPIRED, mandate_id=mandate.id, expire_time=expires_at)


def check_charge(
    mandate: Mandate,
    *,
    customer_id: str,
    amount: Money,
    at: datetime,
    history: ChargeHistory,
) -> None:
    """Refuse a merchant-initiated charge outside the mandate, with the reason of the term broken.

    ``customer_id``: the payment's ("" takes the mandate's customer).
    """
    mandate_id = mandate.id
    check_in_force(mandate, at)
    if customer_id and customer_id != mandate.customer_id:
        raise PaycoreError(
            Reason.MANDATE_CUSTOMER_MISMATCH,
            mandate_id=mandate_id,
            mandate_customer=mandate.customer_id,
            customer_id=customer_id,
        )
    scope = mandate.scope
    if amount.currency != scope.max_amount.currency:
        raise PaycoreError(
            Reason.MANDATE_CURRENCY_MISMATCH,
            mandate_id=mandate_id,
            expected=scope.max_amount.currency,
            given=amount.currency,
        )
    if amount > scope.max_amount:
        raise PaycoreError(
            Reason.MANDATE_AMOUNT_EXCEEDED,
            mandate_id=mandate_id,
            requested=amount,
            max_amount=scope.max_amount,
        )
    if scope.usage is MandateUsage.SINGLE_USE and history.first_payment_id:
        raise PaycoreError(
            Reason.MANDATE_ALREADY_USED, mandate_id=mandate_id, payment_id=history.first_payment_id
        )
    if scope.frequency.window() is not None and history.in_window >= 1:
        raise PaycoreError(
            Reason.MANDATE_FREQUENCY_EXCEEDED,
            mandate_id=mandate_id,
            allowed=1,
            period=scope.frequency.describe(),
            made=history.in_window,
        )


def check_recurring(
    mandate: Mandate, *, customer_id: str, amount: Money, at: datetime, every: Frequency
) -> None:
    """Refuse ``mandate`` for charges of ``amount`` once per ``every`` (a subscription's period).

    The terms of ``check_charge`` that do not depend on charges made (in force,
    the customer's, the currency, the amount per charge), multi-use (a
    single-use mandate cannot pay a second period) and a frequency the periods
    fit in: a weekly price under a monthly mandate would fail every other
    renewal. Checked when a subscription takes the mandate; each renewal's
    charge is checked again by ``check_charge``.
    """
    check_charge(mandate, customer_id=customer_id, amount=amount, at=at, history=ChargeHistory())
    if mandate.scope.usage is not MandateUsage.MULTI_USE:
        raise PaycoreError(Reason.MANDATE_NOT_MULTI_USE, mandate_id=mandate.id)
    allowed, renewals = mandate.scope.frequency.window(), every.window()
    if allowed is not None and renewals is not None and renewals < allowed:
        raise PaycoreError(
            Reason.MANDATE_FREQUENCY_EXCEEDED,
            mandate_id=mandate.id,
            allowed=1,
            period=mandate.scope.frequency.describe(),
            made=f"a subscription renewing every {every.describe()} would make more",
        )


def verification_refusal(payment: Payment) -> PaycoreError | None:
    """Why a verification payment did not verify the card; None when it did.

    Verified: the channel authorized it (it may be voided since). Anything else
    that is final (declined, failed, held or declined by risk) refuses the setup.
    The caller handles a verification still in flight before asking.
    """
    if payment.channel_reference and payment.state in (
        PaymentState.AUTHORIZED,
        PaymentState.CANCELED,
    ):
        return None
    risk = payment.risk
    if payment.state is PaymentState.REQUIRES_REVIEW or (
        risk is not None and risk.decision is RiskDecision.REVIEW
    ):
        why = "risk held the verification for review"
    elif payment.failure is not None:
        why = f"{payment.failure.code}: {payment.failure.message}"
    else:
        why = f"the verification ended {payment.state.value}"
    return PaycoreError(Reason.PAYMENT_METHOD_VERIFICATION_FAILED, payment_id=payment.id, why=why)


def new_mandate(
    command: SetupPaymentMethod, mandate_id: str, verification: Payment, at: datetime
) -> Mandate:
    """The mandate a verified ``command`` records (``verification``: its authorized payment)."""
    return Mandate(
        id=mandate_id,
        merchant_id=command.merchant_id,
        customer_id=command.customer_id,
        card_token=command.card_token,
        scope=command.scope,
        agreement_id=verification.channel_reference,
        channel=verification.channel,
        verification_payment_id=verification.id,
        created_at=at,
        updated_at=at,
    )


def revoked(mandate: Mandate, at: datetime) -> Mandate:
    """``mandate`` revoked as of ``at``; a revoked one stays as it was (revoking is idempotent)."""
    if mandate.revoked_at is not None:
        return mandate
    return dataclasses.replace(mandate, revoked_at=at, updated_at=at)
