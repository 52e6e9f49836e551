"""Customer action: a payment waiting for its customer to complete a 3-D Secure challenge.

::

    REQUIRES_CONFIRMATION --risk approves, issuer wants a challenge--> REQUIRES_ACTION
    REQUIRES_CONFIRMATION --risk asks for step-up (a card)----------> REQUIRES_ACTION
    REQUIRES_ACTION --challenge completed--> (authorization: PENDING, then the channel's answer)
    REQUIRES_ACTION --challenge failed-----> DECLINED  (authentication_failed)
    REQUIRES_ACTION --expired or canceled--> CANCELED  (nothing was held: nothing to release)

A completion arrives from the customer's browser, so it may come twice (a
reload, a double click) or after the payment moved on (after its expiry, or
after the first completion). ``challenge_open`` says whether a completion
still applies; once it does not, the answer is the payment as it is
(idempotent) and nothing changes: order-safe like a channel's notification.
"""

from __future__ import annotations

from datetime import datetime

from core.domain.authentication import (
    PENDING_CHALLENGE,
    Authentication,
    AuthenticationStatus,
    NextAction,
)
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.evolve import evolve
from core.domain.lifecycle._authorization import require_confirmable
from core.domain.payment import Failure, Payment, PaymentState, RiskAssessment, RiskDecision

S = PaymentState


def authenticate_frictionless(payment: Payment, result: Authentication, at: datetime) -> Payment:
    """Record an issuer's answer given without a challenge; the authorization goes on."""
    require_confirmable(payment)
    return evolve(payment, authentication=result, updated_at=at)


def require_action(
    payment: Payment, risk: RiskAssessment, action: NextAction, at: datetime
) -> Payment:
    """Risk let the payment through and its issuer wants a challenge, or risk asked for
    one (STEP_UP): wait for the customer.

    Nothing is sent to a channel and nothing is held until the challenge is completed.
    """
    if risk.decision not in {RiskDecision.APPROVE, RiskDecision.STEP_UP}:
        raise ValueError(f"a payment with risk decision {risk.decision.name} is not challenged")
    require_confirmable(payment)
    return evolve(
        payment,
        state=S.REQUIRES_ACTION,
        risk=risk,
        next_action=action,
        authentication=PENDING_CHALLENGE,
        updated_at=at,
    )


def challenge_open(payment: Payment) -> bool:
    """Whether a challenge completion still applies to ``payment``."""
    # A redirect wallet's customer acts on an attempt already in flight
    # (lifecycle/_redirects.py), and a payment waiting for a verification code
    # (lifecycle/_verification.py) has no challenge: neither is paycore's
    # challenge to complete or expire.
    action = payment.next_action
    return (
        payment.state is S.REQUIRES_ACTION
        and action is not None
        and action.verify_code is None
        and not payment.operation_in_flight
    )


def challenge_expired(payment: Payment, at: datetime) -> bool:
    """Whether ``payment``'s challenge is open and past its expiry."""
    return (
        challenge_open(payment)
        and payment.next_action is not None
        and at >= payment.next_action.expires_at
    )


def complete_challenge(payment: Payment, result: Authentication, at: datetime) -> Payment:
    """Apply the ACS's result of the customer's challenge.

    Succeeded: the authentication is recorded and the challenge closed; the
    payment then goes through the normal authorization path
    (``begin_authorization(..., authenticated=True)``). Failed: DECLINED.
    """
    if not challenge_open(payment):
        raise IllegalTransitionError(
            Reason.PAYMENT_NOT_CONFIRMABLE, payment_id=payment.id, state=payment.state.name
        )
    if result.status is AuthenticationStatus.SUCCEEDED:
        return evolve(payment, authentication=result, next_action=None, updated_at=at)
    if result.status is not AuthenticationStatus.FAILED:
        raise ValueError(f"a challenge ends succeeded or failed, not {result.status.name}")
    return evolve(
        payment,
        state=S.DECLINED,
        authentication=result,
        next_action=None,
        failure=Failure("authentication_failed", "The customer did not pass authentication."),
        updated_at=at,
    )


def abandon_challenge(payment: Payment, at: datetime) -> Payment:
    """The challenge expired unanswered (or the merchant canceled): CANCELED.

    Nothing was sent to a channel before the challenge, so no hold exists and
    nothing is released.
    """
    if not challenge_open(payment):
        raise IllegalTransitionError(
            Reason.PAYMENT_NOT_CANCELABLE, payment_id=payment.id, state=payment.state.name
        )
    assert payment.authentication is not None  # require_action set it
    return evolve(
        payment,
        state=S.CANCELED,
        next_action=None,
        authentication=evolve(payment.authentication, status=AuthenticationStatus.ABANDONED),
        failure=Failure(
            "authentication_abandoned", "The customer did not complete authentication."
        ),
        updated_at=at,
    )


def decline_unauthenticated(payment: Payment, risk: RiskAssessment, at: datetime) -> Payment:
    """The issuer (or risk's step-up) wants a challenge but the customer cannot be sent to
    one (no return url, no page, a card that cannot be challenged, a method without one).

    DECLINED as the issuer would decline it: nothing was sent to a channel.
    """
    require_confirmable(payment)
    return evolve(
        payment,
        state=S.DECLINED,
        risk=risk,
        failure=Failure("authentication_required", "The issuer requires authentication."),
        updated_at=at,
    )
