"""A verification code's transitions: sent, right, wrong, locked out, expired, late, canceled."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from core.domain import lifecycle
from core.domain.authentication import NextAction
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.payment import Payment, PaymentState, RiskAssessment, RiskDecision
from core.domain.verification import (
    MAX_ATTEMPTS,
    VerifyCode,
    code_digest,
    code_matches,
    mask_destination,
    well_formed_code,
)
from core.service.payments.code_sender import SandboxCodeSender
from tests.support.payment_builders import APPROVED, T0, T1, T2, S, make_payment

STEP_UP = RiskAssessment(30, RiskDecision.STEP_UP, ("medium_wallet_payment",))
ACTION = NextAction(
    None, T0 + timedelta(minutes=10), verify_code=VerifyCode("j***@example.com", MAX_ATTEMPTS)
)


def awaiting_code() -> Payment:
    return lifecycle.require_code(make_payment(), STEP_UP, ACTION, T1)


def attempts_left(payment: Payment) -> int:
    assert payment.next_action is not None
    assert payment.next_action.verify_code is not None
    return payment.next_action.verify_code.attempts_left


def test_a_code_step_waits_in_requires_action_holding_nothing() -> None:
    payment = awaiting_code()
    assert payment.state is S.REQUIRES_ACTION
    assert payment.next_action == ACTION
    assert payment.risk == STEP_UP
    assert payment.amount_captured.amount == 0
    assert lifecycle.code_open(payment)


def test_only_a_stepped_up_payment_is_asked_for_a_code() -> None:
    with pytest.raises(ValueError, match="APPROVE"):
        lifecycle.require_code(make_payment(), APPROVED, ACTION, T1)


@pytest.mark.parametrize(
    "state", [s for s in PaymentState if s is not S.REQUIRES_CONFIRMATION], ids=lambda s: s.name
)
def test_a_code_step_opens_only_on_a_payment_requiring_confirmation(state: PaymentState) -> None:
    with pytest.raises(IllegalTransitionError):
        lifecycle.require_code(make_payment(state), STEP_UP, ACTION, T1)


def test_the_right_code_captures_the_payment() -> None:
    paid = lifecycle.accept_code(awaiting_code(), T2)
    assert paid.state is S.CAPTURED
    assert paid.amount_captured == paid.amount
    assert paid.next_action is None
    assert not lifecycle.code_open(paid)


def test_the_right_code_on_a_spent_wallet_declines_insufficient_funds() -> None:
    declined = lifecycle.decline_unfunded(awaiting_code(), T2)
    assert declined.state is S.DECLINED
    assert declined.failure is not None
    assert declined.failure.code == "insufficient_funds"
    assert declined.amount_captured.amount == 0


def test_a_wrong_code_costs_one_attempt_and_keeps_waiting() -> None:
    once = lifecycle.reject_code(awaiting_code(), T2)
    assert once.state is S.REQUIRES_ACTION
    assert attempts_left(once) == MAX_ATTEMPTS - 1
    assert once.next_action is not None
    assert once.next_action.expires_at == ACTION.expires_at


def test_wrong_codes_until_the_last_attempt_lock_the_payment_out() -> None:
    payment = awaiting_code()
    for left in range(MAX_ATTEMPTS - 1, 0, -1):
        payment = lifecycle.reject_code(payment, T2)
        assert attempts_left(payment) == left
    locked = lifecycle.reject_code(payment, T2)
    assert locked.state is S.DECLINED
    assert locked.failure is not None
    assert locked.failure.code == "verification_failed"
    assert locked.next_action is None


def test_an_unanswered_code_expires_at_its_deadline_and_cancels() -> None:
    payment = awaiting_code()
    assert not lifecycle.code_expired(payment, ACTION.expires_at - timedelta(seconds=1))
    assert lifecycle.code_expired(payment, ACTION.expires_at)
    canceled = lifecycle.abandon_code(payment, ACTION.expires_at)
    assert canceled.state is S.CANCELED
    assert canceled.failure is not None
    assert canceled.failure.code == "verification_expired"


def test_the_merchant_may_cancel_a_payment_awaiting_its_code() -> None:
    canceled = lifecycle.cancel_unconfirmed(awaiting_code(), T2)
    assert canceled.state is S.CANCELED
    assert canceled.failure is not None
    assert canceled.failure.code == "verification_expired"


@pytest.mark.parametrize(
    "ended",
    [
        lambda p: lifecycle.accept_code(p, T2),
        lambda p: lifecycle.abandon_code(p, T2),
        lambda p: lifecycle.decline_unfunded(p, T2),
    ],
    ids=["accepted", "expired", "unfunded"],
)
def test_a_code_after_the_step_ended_changes_nothing(
    ended: Callable[[Payment], Payment],
) -> None:
    done = ended(awaiting_code())
    assert not lifecycle.code_open(done)
    assert not lifecycle.code_expired(done, T2 + timedelta(days=1))
    for transition in (lifecycle.accept_code, lifecycle.reject_code, lifecycle.abandon_code):
        with pytest.raises(IllegalTransitionError) as raised:
            transition(done, T2)
        assert raised.value.reason is Reason.VERIFICATION_NOT_PENDING


def test_a_code_step_is_no_challenge() -> None:
    waiting = awaiting_code()
    assert not lifecycle.challenge_open(waiting)
    assert not lifecycle.challenge_expired(waiting, ACTION.expires_at)
    with pytest.raises(IllegalTransitionError):
        lifecycle.abandon_challenge(waiting, T2)


def test_a_challenge_is_no_code_step() -> None:
    from tests.unit.test_lifecycle_customer_action import challenged  # noqa: PLC0415

    assert not lifecycle.code_open(challenged())
    with pytest.raises(IllegalTransitionError):
        lifecycle.reject_code(challenged(), T2)


def test_a_code_is_kept_as_a_keyed_digest_compared_whole() -> None:
    key = b"k" * 32
    digest = code_digest(key, "pay_1", "123456")
    assert "123456" not in digest
    assert code_matches(key, "pay_1", "123456", digest)
    assert not code_matches(key, "pay_1", "123457", digest)
    assert not code_matches(key, "pay_2", "123456", digest)  # bound to its payment
    assert not code_matches(b"x" * 32, "pay_1", "123456", digest)  # and to the key


@pytest.mark.parametrize(
    ("destination", "masked"),
    [("jane@example.com", "j***@example.com"), ("+1 415 555 0112", "+1 *** *** 12")],
)
def test_where_a_code_went_is_shown_masked(destination: str, masked: str) -> None:
    assert mask_destination(destination) == masked


@pytest.mark.parametrize(
    ("code", "ok"), [("012345", True), ("12345", False), ("1234567", False), ("12345a", False)]
)
def test_a_code_is_six_ascii_digits(code: str, ok: bool) -> None:
    assert well_formed_code(code) is ok
    assert not well_formed_code("١٢٣٤٥٦")  # other scripts' digits are not a code


async def test_the_sandbox_sender_keeps_the_latest_codes_only() -> None:
    sender = SandboxCodeSender(kept=2)
    for n in range(3):
        await sender.send("m", f"pay_{n}", "jane@example.com", f"00000{n}")
    assert sender.received("pay_0") is None
    assert sender.received("pay_2") == ("jane@example.com", "000002")
