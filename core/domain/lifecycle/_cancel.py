"""Cancel: an unconfirmed payment is canceled at once, an authorized one through a void."""

from __future__ import annotations

from datetime import datetime

from core.domain.attempt import AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.evolve import evolve
from core.domain.lifecycle._customer_action import abandon_challenge
from core.domain.lifecycle._transitions import require
from core.domain.lifecycle._verification import abandon_code, code_open
from core.domain.payment import Payment, PaymentState

S = PaymentState


def needs_void(payment: Payment) -> bool:
    """Whether canceling must ask the channel to release a hold."""
    require(payment, "cancel")
    return payment.state is S.AUTHORIZED


def cancel_unconfirmed(payment: Payment, at: datetime) -> Payment:
    """Cancel a payment that never reached a channel."""
    require(payment, "cancel")
    if code_open(payment):
        return abandon_code(payment, at)
    if payment.state is S.REQUIRES_ACTION:
        return abandon_challenge(payment, at)
    if payment.state not in (S.REQUIRES_CONFIRMATION, S.REQUIRES_REVIEW):
        raise ValueError("an authorized payment is canceled through a void")
    return evolve(payment, state=S.CANCELED, updated_at=at)


def begin_void(payment: Payment, at: datetime) -> Payment:
    """Mark a void in flight."""
    return evolve(payment, operation_in_flight=ChannelOperation.VOID.value, updated_at=at)


def complete_void(payment: Payment, result: ChannelResult, at: datetime) -> Payment:
    """Apply a channel's answer to a void: CANCELED, or still AUTHORIZED if refused."""
    if not result.outcome.is_final:
        return evolve(payment, updated_at=at)
    cleared = evolve(payment, operation_in_flight="", updated_at=at)
    if result.outcome is AttemptOutcome.SUCCEEDED:
        return evolve(cleared, state=S.CANCELED)
    return cleared
