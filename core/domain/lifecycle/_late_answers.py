"""Late answers: a status query's or a channel notification's answer to an attempt left unknown."""

from __future__ import annotations

from datetime import datetime

from core.domain.attempt import Attempt, ChannelOperation, ChannelResult
from core.domain.lifecycle._authorization import complete_authorization
from core.domain.lifecycle._cancel import complete_void
from core.domain.lifecycle._capture import complete_capture
from core.domain.lifecycle._refunds import complete_refund
from core.domain.payment import Payment, RefundState


def awaits_answer(payment: Payment, attempt: Attempt) -> bool:
    """Whether ``payment`` still waits for ``attempt``'s answer (nobody settled it yet).

    False once a status query or a notification applied the channel's answer:
    the operation is no longer in flight (a refund is no longer pending).
    """
    if attempt.operation is ChannelOperation.REFUND:
        return any(
            r.id == attempt.refund_id and r.state is RefundState.PENDING for r in payment.refunds
        )
    return bool(payment.operation_in_flight == attempt.operation.value)


def resolve_attempt(
    payment: Payment, attempt: Attempt, result: ChannelResult, at: datetime
) -> Payment:
    """Apply a definitive late answer to an attempt whose call ended UNKNOWN (or never ended).

    The caller holds the attempt's row lock and has checked that the attempt
    is still unresolved, so each attempt is settled exactly once. An answer
    that is still UNKNOWN changes nothing. A "not found" answer (FAILED, not
    processed) settles the attempt as failed: nothing moved, and the payment
    is not sent elsewhere automatically (a person or the merchant decides).
    """
    if not result.outcome.is_final:
        return payment
    operation = attempt.operation
    if operation is ChannelOperation.REFUND:
        return complete_refund(payment, attempt.refund_id, result, at)[0]
    if payment.operation_in_flight != operation.value:
        raise ValueError(
            f"payment {payment.id} has {payment.operation_in_flight or 'nothing'} in flight,"
            f" not {operation.value}"
        )
    if operation is ChannelOperation.AUTHORIZE:
        return complete_authorization(payment, result, at)
    if operation is ChannelOperation.CAPTURE:
        return complete_capture(payment, attempt.amount, result, at)
    return complete_void(payment, result, at)
