"""Verification codes: a wallet payment waiting for its customer's one-time code.

::

    REQUIRES_CONFIRMATION --risk asks for step-up, a code is sent--> REQUIRES_ACTION (verify_code)
    REQUIRES_ACTION --the right code------------------------------> CAPTURED (the wallet pays)
    REQUIRES_ACTION --the right code, the wallet short of money---> DECLINED (insufficient_funds)
    REQUIRES_ACTION --a wrong code, attempts left-----------------> REQUIRES_ACTION (one fewer)
    REQUIRES_ACTION --a wrong code, the last attempt (lockout)----> DECLINED (verification_failed)
    REQUIRES_ACTION --expired or canceled-------------------------> CANCELED (verification_expired)

Nothing is held while the code is awaited: a wallet payment's debit posts with
its capture, in the transaction that accepts the code. A code submitted after
the step ended changes nothing (``code_open`` says whether one still applies).
"""

from __future__ import annotations

from datetime import datetime

from core.domain.authentication import NextAction
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.evolve import evolve
from core.domain.lifecycle._authorization import require_confirmable
from core.domain.payment import Failure, Payment, PaymentState, RiskAssessment, RiskDecision

S = PaymentState

VERIFICATION_FAILED = Failure(
    "verification_failed", "Too many wrong verification codes: the payment is locked out."
)
VERIFICATION_EXPIRED = Failure(
    "verification_expired", "The customer did not enter the verification code in time."
)
INSUFFICIENT_FUNDS = Failure(
    "insufficient_funds", "The wallet no longer holds the amount once the code was entered."
)


def require_code(
    payment: Payment, risk: RiskAssessment, action: NextAction, at: datetime
) -> Payment:
    """Risk asked for step-up and a code was sent: wait for the customer to enter it."""
    if risk.decision is not RiskDecision.STEP_UP:
        raise ValueError(f"a payment with risk decision {risk.decision.name} asks for no code")
    if action.verify_code is None:
        raise ValueError("a code step's next action is verify_code")
    require_confirmable(payment)
    return evolve(payment, state=S.REQUIRES_ACTION, risk=risk, next_action=action, updated_at=at)


def code_open(payment: Payment) -> bool:
    """Whether a submitted code still applies to ``payment``."""
    action = payment.next_action
    return (
        payment.state is S.REQUIRES_ACTION and action is not None and action.verify_code is not None
    )


def code_expired(payment: Payment, at: datetime) -> bool:
    """Whether ``payment``'s code step is open and past its expiry."""
    return (
        code_open(payment)
        and payment.next_action is not None
        and at >= payment.next_action.expires_at
    )


def _require_open(payment: Payment) -> NextAction:
    if not code_open(payment) or payment.next_action is None:
        raise IllegalTransitionError(
            Reason.VERIFICATION_NOT_PENDING, payment_id=payment.id, state=payment.state.name
        )
    return payment.next_action


def reject_code(payment: Payment, at: datetime) -> Payment:
    """A wrong code: one attempt fewer, or, on the last attempt, DECLINED (lockout)."""
    action = _require_open(payment)
    assert action.verify_code is not None  # _require_open checked
    left = action.verify_code.attempts_left - 1
    if left > 0:
        step = evolve(action.verify_code, attempts_left=left)
        return evolve(payment, next_action=evolve(action, verify_code=step), updated_at=at)
    return evolve(
        payment, state=S.DECLINED, next_action=None, failure=VERIFICATION_FAILED, updated_at=at
    )


def accept_code(payment: Payment, at: datetime) -> Payment:
    """The right code: the wallet payment is captured at once, as PayFromWallet captures it.

    The caller checked the wallet's funds under its lock (else ``decline_unfunded``).
    """
    _require_open(payment)
    return evolve(
        payment,
        state=S.CAPTURED,
        amount_captured=payment.amount,
        next_action=None,
        updated_at=at,
    )


def decline_unfunded(payment: Payment, at: datetime) -> Payment:
    """The right code, but the wallet was spent meanwhile: DECLINED, nothing moves."""
    _require_open(payment)
    return evolve(
        payment, state=S.DECLINED, next_action=None, failure=INSUFFICIENT_FUNDS, updated_at=at
    )


def abandon_code(payment: Payment, at: datetime) -> Payment:
    """The code was not entered in time (or the merchant canceled): CANCELED, nothing held."""
    _require_open(payment)
    return evolve(
        payment, state=S.CANCELED, next_action=None, failure=VERIFICATION_EXPIRED, updated_at=at
    )
