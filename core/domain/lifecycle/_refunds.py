"""Refunds: how much a refund returns, its review, and what the channel's answer makes of it.

A refund's amount is reserved from the moment it is added to the payment
(PENDING, or PENDING_REVIEW while a person decides) until the channel refuses
it or a reviewer rejects it.
"""

from __future__ import annotations

from datetime import datetime

from core.domain.attempt import AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.evolve import evolve
from core.domain.lifecycle._transitions import check_currency, check_positive, require
from core.domain.money import Money
from core.domain.payment import TOP_UP_KEY, Failure, Payment, PaymentState, Refund, RefundState

S = PaymentState

_REFUND_REFUSED = Failure("refund_failed", "The channel did not accept the refund.")
"""A refund's failure when the channel refused it without saying why."""


def plan_refund(payment: Payment, requested: Money | None) -> Money:
    """The amount a refund request returns: everything still refundable when unspecified."""
    require(payment, "refund")
    if TOP_UP_KEY in payment.metadata:
        # The money is the customer's wallet balance now, possibly spent:
        # it leaves the wallet by a withdrawal, never by a card refund.
        raise IllegalTransitionError(Reason.TOP_UP_NOT_REFUNDABLE, payment_id=payment.id)
    refundable = payment.amount_refundable
    if requested is None:
        if refundable.is_zero():
            raise IllegalTransitionError(
                Reason.REFUND_EXCEEDS_CAPTURED,
                payment_id=payment.id,
                requested=refundable,
                refundable=refundable,
            )
        return refundable
    check_currency(payment, requested)
    check_positive(requested)
    if requested > refundable:
        raise IllegalTransitionError(
            Reason.REFUND_EXCEEDS_CAPTURED,
            payment_id=payment.id,
            requested=requested,
            refundable=refundable,
        )
    return requested


def begin_refund(payment: Payment, refund: Refund, at: datetime) -> Payment:
    """Add ``refund`` as PENDING (its amount is reserved) with the refund in flight."""
    if refund.state is not RefundState.PENDING or refund.amount > payment.amount_refundable:
        raise ValueError("begin_refund takes a planned, pending refund")
    return evolve(
        payment,
        refunds=(*payment.refunds, refund),
        operation_in_flight=ChannelOperation.REFUND.value,
        updated_at=at,
    )


def hold_refund(payment: Payment, refund: Refund, at: datetime) -> Payment:
    """Add ``refund`` as PENDING_REVIEW: its amount is reserved, nothing is sent.

    The payment keeps its state (CAPTURED or PARTIALLY_REFUNDED, as a Stripe
    or Adyen user would expect: no money moved) and takes other operations,
    including more refunds of what is still unreserved.
    """
    if refund.state is not RefundState.PENDING_REVIEW or refund.amount > payment.amount_refundable:
        raise ValueError("hold_refund takes a planned refund pending review")
    return evolve(payment, refunds=(*payment.refunds, refund), updated_at=at)


def _refund_in_review(payment: Payment, refund_id: str) -> Refund:
    """The refund ``refund_id`` of ``payment``; FAILED_PRECONDITION unless it awaits review."""
    matching = [r for r in payment.refunds if r.id == refund_id]
    if len(matching) != 1:
        raise ValueError(f"payment {payment.id} has {len(matching)} refunds with id {refund_id}")
    (refund,) = matching
    if refund.state is not RefundState.PENDING_REVIEW:
        raise IllegalTransitionError(
            Reason.REFUND_NOT_IN_REVIEW, refund_id=refund_id, state=refund.state.name
        )
    return refund


def _replace_refund(payment: Payment, refund: Refund, at: datetime, **changes: object) -> Payment:
    refunds = tuple(refund if r.id == refund.id else r for r in payment.refunds)
    return evolve(payment, refunds=refunds, updated_at=at, **changes)


def approve_refund(payment: Payment, refund_id: str, at: datetime) -> tuple[Payment, Refund]:
    """An admin approved a held refund: PENDING_REVIEW -> PENDING, with the refund in flight.

    From here it is an ordinary refund: ``complete_refund`` applies the
    channel's answer. Its amount stays reserved throughout, so nothing can
    have taken it while it waited. Another channel operation in flight on
    the payment makes this ABORTED (retryable), exactly as for RefundPayment.
    """
    refund = _refund_in_review(payment, refund_id)
    require(payment, "refund")
    approved = evolve(refund, state=RefundState.PENDING)
    updated = _replace_refund(
        payment, approved, at, operation_in_flight=ChannelOperation.REFUND.value
    )
    return updated, approved


def reject_refund(
    payment: Payment, refund_id: str, why: str, at: datetime
) -> tuple[Payment, Refund]:
    """An admin rejected a held refund: PENDING_REVIEW -> REJECTED, its amount freed.

    Final: a rejected refund is never sent; the merchant may ask for a new one.
    Needs no channel, so it is allowed while another operation is in flight.
    """
    refund = _refund_in_review(payment, refund_id)
    rejected = evolve(refund, state=RefundState.REJECTED, rejection_reason=why)
    return _replace_refund(payment, rejected, at), rejected


def complete_refund(
    payment: Payment, refund_id: str, result: ChannelResult, at: datetime
) -> tuple[Payment, Refund]:
    """Apply a channel's answer to a refund.

    SUCCEEDED adds to ``amount_refunded`` (and makes the payment PARTIALLY_
    REFUNDED or REFUNDED); DECLINED/FAILED marks the refund FAILED and frees
    its amount; UNKNOWN keeps it PENDING and reserved until a status query.
    Either way the payment accepts other operations again: a pending refund's
    amount is already excluded from what may still be refunded.
    """
    matching = [r for r in payment.refunds if r.id == refund_id]
    if len(matching) != 1:
        raise ValueError(f"payment {payment.id} has {len(matching)} refunds with id {refund_id}")
    (refund,) = matching
    if refund.state is not RefundState.PENDING:
        raise ValueError("refund already settled")
    if not result.outcome.is_final:
        new_refund = refund
    elif result.outcome is AttemptOutcome.SUCCEEDED:
        new_refund = evolve(refund, state=RefundState.SUCCEEDED, channel_reference=result.reference)
    else:
        new_refund = evolve(
            refund,
            state=RefundState.FAILED,
            channel_reference=result.reference,
            failure=result.failure or _REFUND_REFUSED,
        )
    refunds = tuple(new_refund if r.id == refund_id else r for r in payment.refunds)
    refunded = payment.amount_refunded
    state = payment.state
    if new_refund.state is RefundState.SUCCEEDED:
        refunded = refunded + refund.amount
        state = S.REFUNDED if refunded == payment.amount_captured else S.PARTIALLY_REFUNDED
    # Clear the marker only if it is this kind of operation: a refund settled
    # late (after an unknown outcome) must not unlock someone else's call.
    in_flight = payment.operation_in_flight
    if in_flight == ChannelOperation.REFUND.value:
        in_flight = ""
    updated = evolve(
        payment,
        refunds=refunds,
        amount_refunded=refunded,
        state=state,
        operation_in_flight=in_flight,
        updated_at=at,
    )
    return updated, new_refund
