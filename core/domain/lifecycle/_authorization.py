"""Confirmation and authorization: what risk's verdict and the channel's answer make of a payment.

A payment requiring confirmation is declined by risk, held for review, failed
for want of a route, or sent to a channel (``begin_authorization``); the
channel's answer settles it (``complete_authorization``).
"""

from __future__ import annotations

from datetime import datetime

from core.domain.attempt import AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.evolve import evolve
from core.domain.lifecycle._redirects import (
    awaits_wallet_customer,
    redirect_to_wallet,
    unanswered_state,
)
from core.domain.lifecycle._transitions import require
from core.domain.payment import (
    CaptureMethod,
    Failure,
    Payment,
    PaymentState,
    RiskAssessment,
    RiskDecision,
    RoutingRecord,
)

S = PaymentState


def require_confirmable(
    payment: Payment, *, reviewed: bool = False, authenticated: bool = False
) -> None:
    """Raise PAYMENT_NOT_CONFIRMABLE unless ``payment`` may be sent on (or stopped) now."""
    # A payment held for review is sent on only once a person approved it; one
    # waiting for its customer, only once the customer authenticated.
    if authenticated:
        expected = S.REQUIRES_ACTION
        if payment.next_action is not None:  # the challenge is still open
            raise IllegalTransitionError(
                Reason.PAYMENT_NOT_CONFIRMABLE, payment_id=payment.id, state=payment.state.name
            )
    else:
        expected = S.REQUIRES_REVIEW if reviewed else S.REQUIRES_CONFIRMATION
    if payment.state is not expected or payment.operation_in_flight:
        raise IllegalTransitionError(
            Reason.PAYMENT_NOT_CONFIRMABLE, payment_id=payment.id, state=payment.state.name
        )


def decline_for_risk(payment: Payment, risk: RiskAssessment, at: datetime) -> Payment:
    """A payment the risk engine declined: terminal, never sent to a channel."""
    require_confirmable(payment)
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
    require_confirmable(payment)
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
    payment: Payment,
    risk: RiskAssessment,
    why: str,
    at: datetime,
    *,
    reviewed: bool = False,
    authenticated: bool = False,
) -> Payment:
    """A payment no configured channel can carry: FAILED, nothing moved."""
    require_confirmable(payment, reviewed=reviewed, authenticated=authenticated)
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
    authenticated: bool = False,
    routing: RoutingRecord | None = None,
) -> Payment:
    """Mark the payment as sent to ``channel``: PENDING with AUTHORIZE in flight.

    ``reviewed``: a payment held for review that an admin approved (its
    assessment stays the REVIEW one, as the record of what risk said).
    ``routing``: how the channel was chosen, recorded on the payment (else
    it keeps the record it has).
    ``authenticated``: a payment whose customer completed a 3-D Secure challenge
    (``lifecycle.complete_challenge``), sent on with its authentication result.
    """
    if reviewed:
        allowed = {RiskDecision.REVIEW}
    elif authenticated:
        # A stepped-up payment (risk wanted authentication) goes on once the customer passed.
        allowed = {RiskDecision.APPROVE, RiskDecision.STEP_UP}
    else:
        allowed = {RiskDecision.APPROVE}
    if risk.decision not in allowed:
        # DECLINE never reaches a channel; REVIEW waits for a person first; STEP_UP
        # for the customer's authentication.
        raise ValueError(f"a payment with risk decision {risk.decision.name} must not be sent")
    require_confirmable(payment, reviewed=reviewed, authenticated=authenticated)
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
    A redirect wallet's PENDING with its page waits in REQUIRES_ACTION instead
    (core/domain/lifecycle/_redirects.py), its answer settles it the same way.
    """
    if payment.state is not S.PENDING and not awaits_wallet_customer(payment):
        raise ValueError(f"authorization result for a payment in {payment.state.name}")
    if result.redirect is not None and not result.outcome.is_final:
        payment = redirect_to_wallet(payment, result.redirect, at)
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
    common["next_action"] = None
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
    state = unanswered_state(
        payment, failure, S.DECLINED if result.outcome is AttemptOutcome.DECLINED else S.FAILED
    )
    return evolve(payment, state=state, failure=failure, **common)
