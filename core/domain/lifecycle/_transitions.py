"""Which operation a payment's state allows: the table every caller-initiated operation checks.

``require`` checks an operation against it (and against an operation still in
flight); the checks a requested amount passes (above zero, in the payment's
currency) are here too, shared by capture, refund and amount updates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.domain.errors import (
    FieldViolation,
    IllegalTransitionError,
    PaycoreError,
    Reason,
    ValidationError,
)
from core.domain.lifecycle._redirects import awaits_wallet_customer
from core.domain.money import Money
from core.domain.payment import Payment, PaymentState

S = PaymentState


@dataclass(frozen=True, slots=True)
class _Rule:
    allowed_from: frozenset[PaymentState]
    reason: Reason


# Which states each caller-initiated operation may start from. Outcomes that
# channels report (PENDING -> AUTHORIZED, ...) are handled by complete_*.
TRANSITIONS: Mapping[str, _Rule] = {
    "confirm": _Rule(frozenset({S.REQUIRES_CONFIRMATION}), Reason.PAYMENT_NOT_CONFIRMABLE),
    "update_amount": _Rule(frozenset({S.REQUIRES_CONFIRMATION}), Reason.AMOUNT_NOT_UPDATABLE),
    "capture": _Rule(frozenset({S.AUTHORIZED}), Reason.PAYMENT_NOT_CAPTURABLE),
    "cancel": _Rule(
        frozenset({S.REQUIRES_CONFIRMATION, S.REQUIRES_REVIEW, S.REQUIRES_ACTION, S.AUTHORIZED}),
        Reason.PAYMENT_NOT_CANCELABLE,
    ),
    "decide_review": _Rule(frozenset({S.REQUIRES_REVIEW}), Reason.PAYMENT_NOT_IN_REVIEW),
    "refund": _Rule(frozenset({S.CAPTURED, S.PARTIALLY_REFUNDED}), Reason.PAYMENT_NOT_REFUNDABLE),
}


def require(payment: Payment, operation: str) -> None:
    """Raise unless ``operation`` may start on ``payment`` now.

    A payment with a channel operation in flight accepts nothing else until
    that operation's answer is committed (ABORTED, retryable): checked first,
    because the state it will settle in may well allow the operation. A bank
    transfer the bank registered but has not reported is FAILED_PRECONDITION
    (BANK_TRANSFER_PENDING) instead: retrying would not help for days; so is a
    wallet payment whose customer has not decided (WALLET_CUSTOMER_PENDING).
    """
    rule = TRANSITIONS[operation]
    if payment.awaits_bank_transfer:
        # Not "in progress, retry": the money may take days, or never come.
        raise IllegalTransitionError(Reason.BANK_TRANSFER_PENDING, payment_id=payment.id)
    if awaits_wallet_customer(payment):
        # Nor for a customer on the wallet's page: only the wallet's answer ends it.
        raise IllegalTransitionError(Reason.WALLET_CUSTOMER_PENDING, payment_id=payment.id)
    if payment.operation_in_flight:
        raise PaycoreError(
            Reason.PAYMENT_OPERATION_IN_PROGRESS,
            payment_id=payment.id,
            operation=payment.operation_in_flight,
        )
    if payment.state not in rule.allowed_from:
        raise IllegalTransitionError(rule.reason, payment_id=payment.id, state=payment.state.name)


def check_positive(amount: Money) -> None:
    """Raise INVALID_ARGUMENT (a field violation on ``amount``) unless it is above zero."""
    if amount.is_zero():
        raise ValidationError([FieldViolation("amount", "must be greater than zero")])


def check_currency(payment: Payment, amount: Money) -> None:
    """Raise CURRENCY_MISMATCH unless ``amount`` is in the payment's currency."""
    if amount.currency != payment.currency:
        raise PaycoreError(
            Reason.CURRENCY_MISMATCH, given=amount.currency, expected=payment.currency
        )
