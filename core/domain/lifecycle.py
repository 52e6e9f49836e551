"""The payment state machine: the only place that decides which transition is legal.

Every function here is pure: it takes a Payment (and a channel's answer or a
request's amount) and returns a new Payment or raises a PaycoreError from the
catalog. The service layer calls these inside a database transaction holding
the payment's row lock, so a decision and its write are never separated.

Operations that talk to a channel run in two steps, ``begin_*`` (committed
before the channel is called: it marks the operation in flight) and
``complete_*`` (committed with the channel's answer). See
``Payment.operation_in_flight`` for why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.errors import (
    FieldViolation,
    IllegalTransitionError,
    PaycoreError,
    Reason,
    ValidationError,
)
from core.domain.evolve import evolve
from core.domain.money import Money
from core.domain.payment import (
    TOP_UP_KEY,
    CaptureMethod,
    Failure,
    Payment,
    PaymentState,
    Refund,
    RefundState,
    RiskAssessment,
    RiskDecision,
    RoutingRecord,
)

S = PaymentState

_REFUND_REFUSED = Failure("refund_failed", "The channel did not accept the refund.")
"""A refund's failure when the channel refused it without saying why."""


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
        frozenset({S.REQUIRES_CONFIRMATION, S.REQUIRES_REVIEW, S.AUTHORIZED}),
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
    (BANK_TRANSFER_PENDING) instead: retrying would not help for days.
    """
    rule = TRANSITIONS[operation]
    if payment.awaits_bank_transfer:
        # Not "in progress, retry": the money may take days, or never come.
        raise IllegalTransitionError(Reason.BANK_TRANSFER_PENDING, payment_id=payment.id)
    if payment.operation_in_flight:
        raise PaycoreError(
            Reason.PAYMENT_OPERATION_IN_PROGRESS,
            payment_id=payment.id,
            operation=payment.operation_in_flight,
        )
    if payment.state not in rule.allowed_from:
        raise IllegalTransitionError(rule.reason, payment_id=payment.id, state=payment.state.name)


def _positive(amount: Money) -> None:
    if amount.is_zero():
        raise ValidationError([FieldViolation("amount", "must be greater than zero")])


def _check_currency(payment: Payment, amount: Money) -> None:
    if amount.currency != payment.currency:
        raise PaycoreError(
            Reason.CURRENCY_MISMATCH, given=amount.currency, expected=payment.currency
        )


# --- confirmation and authorization -----------------------------------------


def _require_confirmable(payment: Payment, *, reviewed: bool = False) -> None:
    # A payment held for review is sent on only once a person approved it.
    expected = S.REQUIRES_REVIEW if reviewed else S.REQUIRES_CONFIRMATION
    if payment.state is not expected or payment.operation_in_flight:
        raise IllegalTransitionError(
            Reason.PAYMENT_NOT_CONFIRMABLE, payment_id=payment.id, state=payment.state.name
        )


def decline_for_risk(payment: Payment, risk: RiskAssessment, at: datetime) -> Payment:
    """A payment the risk engine declined: terminal, never sent to a channel."""
    _require_confirmable(payment)
    return evolve(
        payment,
        state=S.DECLINED,
        risk=risk,
        failure=Failure("risk_declined", "The payment was declined by risk screening."),
        updated_at=at,
    )


def hold_for_review(payment: Payment, risk: RiskAssessment, at: datetime) -> Payment:
    """A payment the risk engine wants a person to look at: held, never sent until approved."""
    if risk.decision is not RiskDecision.REVIEW:
        raise ValueError(f"only a REVIEW decision holds a payment, not {risk.decision.name}")
    _require_confirmable(payment)
    return evolve(payment, state=S.REQUIRES_REVIEW, risk=risk, updated_at=at)


def reject_review(payment: Payment, note: str, at: datetime) -> Payment:
    """A held payment an admin rejected: DECLINED, never sent to a channel."""
    require(payment, "decide_review")
    return evolve(
        payment,
        state=S.DECLINED,
        failure=Failure("risk_rejected", note or "The payment was rejected by risk review."),
        updated_at=at,
    )


def fail_unroutable(
    payment: Payment, risk: RiskAssessment, why: str, at: datetime, *, reviewed: bool = False
) -> Payment:
    """A payment no configured channel can carry: FAILED, nothing moved."""
    _require_confirmable(payment, reviewed=reviewed)
    return evolve(
        payment,
        state=S.FAILED,
        risk=risk,
        failure=Failure("no_route", why),
        updated_at=at,
    )


def begin_authorization(
    payment: Payment,
    risk: RiskAssessment,
    channel: str,
    at: datetime,
    *,
    reviewed: bool = False,
    routing: RoutingRecord | None = None,
) -> Payment:
    """Mark the payment as sent to ``channel``: PENDING with AUTHORIZE in flight.

    ``reviewed``: a payment held for review that an admin approved (its
    assessment stays the REVIEW one, as the record of what risk said).
    ``routing``: how the channel was chosen, recorded on the payment (else
    it keeps the record it has).
    """
    allowed = RiskDecision.REVIEW if reviewed else RiskDecision.APPROVE
    if risk.decision is not allowed:
        # DECLINE never reaches a channel; REVIEW waits for a person first.
        raise ValueError(f"a payment with risk decision {risk.decision.name} must not be sent")
    _require_confirmable(payment, reviewed=reviewed)
    return evolve(
        payment,
        state=S.PENDING,
        risk=risk,
        channel=channel,
        operation_in_flight=ChannelOperation.AUTHORIZE.value,
        updated_at=at,
        routing=routing or payment.routing,
    )


def reroute_authorization(payment: Payment, channel: str, at: datetime) -> Payment:
    """Fail over: the previous channel certainly did not process the authorization.

    The payment stays PENDING with AUTHORIZE in flight and moves to ``channel``.
    Only legal after an answer proving nothing happened (see
    ``ChannelResult.not_processed``); after a timeout it would risk a double charge.
    """
    if (
        payment.state is not S.PENDING
        or payment.operation_in_flight != ChannelOperation.AUTHORIZE.value
    ):
        raise ValueError(f"cannot reroute a payment in {payment.state.name}")
    return evolve(payment, channel=channel, channel_reference="", updated_at=at)


def complete_authorization(payment: Payment, result: ChannelResult, at: datetime) -> Payment:
    """Apply a channel's answer to an authorization.

    UNKNOWN (or PENDING, an asynchronous method's "answer later") leaves the
    payment PENDING with the operation still marked, so no other operation
    starts before a status query or the channel's notification settles it.
    """
    if payment.state is not S.PENDING:
        raise ValueError(f"authorization result for a payment in {payment.state.name}")
    common: dict[str, object] = {"updated_at": at}
    if result.reference:
        common["channel_reference"] = result.reference
    if payment.bank_transfer is not None and result.pay_to is not None:
        # The bank registered the transfer: what the customer needs to pay.
        common["bank_transfer"] = evolve(
            payment.bank_transfer, reference=result.reference, pay_to=result.pay_to
        )
    if not result.outcome.is_final:
        return evolve(payment, **common)
    common["operation_in_flight"] = ""
    if result.outcome is AttemptOutcome.SUCCEEDED:
        if payment.capture_method is CaptureMethod.AUTOMATIC:
            return evolve(
                payment,
                state=S.CAPTURED,
                amount_captured=payment.amount,
                **common,
            )
        return evolve(payment, state=S.AUTHORIZED, **common)
    failure = result.failure or Failure(
        "card_declined" if result.outcome is AttemptOutcome.DECLINED else "processing_error",
        "The channel did not accept the payment.",
    )
    state = S.DECLINED if result.outcome is AttemptOutcome.DECLINED else S.FAILED
    return evolve(payment, state=state, failure=failure, **common)


# --- capture ----------------------------------------------------------------


def plan_capture(payment: Payment, requested: Money | None) -> Money:
    """The amount a capture request takes: all of it when unspecified."""
    require(payment, "capture")
    if requested is None:
        return payment.amount_capturable
    _check_currency(payment, requested)
    _positive(requested)
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


# --- cancel -----------------------------------------------------------------


def needs_void(payment: Payment) -> bool:
    """Whether canceling must ask the channel to release a hold."""
    require(payment, "cancel")
    return payment.state is S.AUTHORIZED


def cancel_unconfirmed(payment: Payment, at: datetime) -> Payment:
    """Cancel a payment that never reached a channel."""
    require(payment, "cancel")
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


# --- refund -----------------------------------------------------------------


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
    _check_currency(payment, requested)
    _positive(requested)
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


# --- late answers (status query, channel notification) ---------------------


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


# --- update -----------------------------------------------------------------


def update_details(
    payment: Payment,
    at: datetime,
    *,
    amount: Money | None = None,
    description: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Payment:
    """Change description and metadata (any state) or amount (before confirmation)."""
    changes: dict[str, object] = {"updated_at": at}
    if amount is not None:
        require(payment, "update_amount")
        _check_currency(payment, amount)
        changes["amount"] = amount
    if description is not None:
        changes["description"] = description
    if metadata is not None:
        changes["metadata"] = metadata
    return evolve(payment, **changes)
