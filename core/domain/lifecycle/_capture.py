"""Capture: how much of an authorized payment a capture takes, and the channel's answer to it."""

from __future__ import annotations

from datetime import datetime

from core.domain.attempt import AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.evolve import evolve
from core.domain.lifecycle._transitions import check_currency, check_positive, require
from core.domain.money import Money
from core.domain.payment import Payment, PaymentState

S = PaymentState


def plan_capture(payment: Payment, requested: Money | None) -> Money:
    """The amount a capture request takes: all of it when unspecified."""
    require(payment, "capture")
    if requested is None:
        return payment.amount_capturable
    check_currency(payment, requested)
    check_positive(requested)
    if requested > payment.amount_capturable:
        raise IllegalTransitionError(
            Reason.CAPTURE_EXCEEDS_AUTHORIZED,
            payment_id=payment.id,
            requested=requested,
            capturable=payment.amount_capturable,
        )
    return requested


def begin_capture(payment: Payment, at: datetime) -> Payment:
    """Mark a capture in flight (after plan_capture accepted it)."""
    return evolve(payment, operation_in_flight=ChannelOperation.CAPTURE.value, updated_at=at)


def complete_capture(
    payment: Payment, amount: Money, result: ChannelResult, at: datetime
) -> Payment:
    """Apply a channel's answer to a capture of ``amount``.

    A partial capture releases the rest of the hold: the payment is CAPTURED
    with ``amount_captured`` below ``amount``, and nothing more can be captured.
    A refused capture returns the payment still AUTHORIZED (marker cleared);
    the service answers the caller with CHANNEL_REFUSED.
    """
    if not result.outcome.is_final:
        return evolve(payment, updated_at=at)
    cleared = evolve(payment, operation_in_flight="", updated_at=at)
    if result.outcome is AttemptOutcome.SUCCEEDED:
        return evolve(cleared, state=S.CAPTURED, amount_captured=amount)
    return cleared
