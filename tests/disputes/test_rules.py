"""The dispute state machine, the disputable amount and the chargeback postings (pure)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from core.domain import disputes
from core.domain.dispute_status import DisputeStatus
from core.domain.disputes import (
    DISPUTE_CLOSED,
    DISPUTE_CREATED,
    DISPUTE_UPDATED,
    ChannelVerdict,
    Dispute,
    DisputeKind,
)
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.money import Money
from core.domain.payment import Payment, PaymentState, Refund, RefundState
from core.ledger.disputes import postings_for_dispute
from tests.support.payments import domain_payment

AT = datetime(2026, 12, 1, tzinfo=UTC)
LATER = AT + timedelta(hours=1)


def _dispute(
    kind: DisputeKind = DisputeKind.CHARGEBACK,
    status: DisputeStatus = DisputeStatus.NEEDS_RESPONSE,
    amount: int = 800,
) -> Dispute:
    return Dispute(
        id="dp_1",
        merchant_id="m_1",
        payment_id="pay_1",
        channel="acq",
        channel_reference="ch_dp_1",
        amount=Money(amount, "USD"),
        fee=Money(1500 if kind is DisputeKind.CHARGEBACK else 0, "USD"),
        kind=kind,
        status=status,
        reason="fraudulent",
        evidence_due_at=AT + timedelta(days=7),
        created_at=AT,
        updated_at=AT,
    )


def _captured(captured: int = 1000, refunds: tuple[Refund, ...] = ()) -> Payment:
    refunded = sum(r.amount.amount for r in refunds if r.state is RefundState.SUCCEEDED)
    return domain_payment(
        PaymentState.CAPTURED,
        amount_captured=Money(captured, "USD"),
        amount_refunded=Money(refunded, "USD"),
        refunds=refunds,
    )


def _refund(amount: int, state: RefundState) -> Refund:
    return Refund(
        id=f"re_{amount}_{state.value}",
        payment_id="pay_1",
        amount=Money(amount, "USD"),
        state=state,
        reason="",
        created_at=AT,
    )


def test_a_dispute_can_claim_at_most_captured_minus_refunded_and_reserved() -> None:
    payment = _captured(
        refunds=(_refund(300, RefundState.SUCCEEDED), _refund(200, RefundState.PENDING))
    )
    assert disputes.disputable(payment, []) == Money(500, "USD")


def test_open_and_lost_chargebacks_count_against_a_new_dispute_won_ones_do_not() -> None:
    payment = _captured()
    held = [_dispute(amount=300), _dispute(status=DisputeStatus.LOST, amount=200)]
    won = [_dispute(status=DisputeStatus.WON, amount=900)]
    assert disputes.disputable(payment, held).amount == 500
    assert disputes.disputable(payment, won).amount == 1000


def test_an_open_inquiry_counts_against_a_new_dispute_a_closed_one_does_not() -> None:
    payment = _captured()
    inquiry = _dispute(kind=DisputeKind.INQUIRY, amount=600)
    closed = _dispute(kind=DisputeKind.INQUIRY, status=DisputeStatus.CLOSED, amount=600)
    assert disputes.disputable(payment, [inquiry]).amount == 400
    assert disputes.disputable(payment, [closed]).amount == 1000


def test_a_fully_refunded_payment_has_nothing_left_to_dispute() -> None:
    payment = _captured(refunds=(_refund(1000, RefundState.SUCCEEDED),))
    assert disputes.disputable(payment, []).amount == 0


@pytest.mark.parametrize(
    ("status", "blocks"),
    [
        (DisputeStatus.NEEDS_RESPONSE, True),
        (DisputeStatus.UNDER_REVIEW, True),
        (DisputeStatus.LOST, True),
        (DisputeStatus.WON, False),
        (DisputeStatus.CLOSED, False),
    ],
)
def test_refunds_are_blocked_by_open_and_lost_disputes(status: DisputeStatus, blocks: bool) -> None:
    dispute = _dispute(status=status)
    assert (disputes.refund_blocker([dispute]) is dispute) is blocks


def test_evidence_puts_a_dispute_under_review_once() -> None:
    reviewed = disputes.submit_evidence(_dispute(), LATER)
    assert (reviewed.status, reviewed.evidence_submitted) == (DisputeStatus.UNDER_REVIEW, True)
    with pytest.raises(IllegalTransitionError) as refused:
        disputes.submit_evidence(reviewed, LATER)
    assert refused.value.reason is Reason.DISPUTE_NOT_RESPONDABLE


def test_accepting_loses_a_chargeback_and_closes_an_inquiry() -> None:
    assert disputes.accept(_dispute(), LATER).status is DisputeStatus.LOST
    inquiry = _dispute(kind=DisputeKind.INQUIRY)
    assert disputes.accept(inquiry, LATER).status is DisputeStatus.CLOSED
    with pytest.raises(IllegalTransitionError):
        disputes.accept(_dispute(status=DisputeStatus.WON), LATER)


def test_a_decided_dispute_ignores_later_verdicts() -> None:
    won = disputes.decide(_dispute(status=DisputeStatus.UNDER_REVIEW), ChannelVerdict.WON, LATER)
    assert won is not None and won.status is DisputeStatus.WON
    assert disputes.decide(won, ChannelVerdict.LOST, LATER) is None
    assert disputes.decide(won, ChannelVerdict.WON, LATER) is None


def test_an_inquiry_closes_and_can_become_a_chargeback() -> None:
    inquiry = _dispute(kind=DisputeKind.INQUIRY)
    closed = disputes.decide(inquiry, ChannelVerdict.CLOSED, LATER)
    assert closed is not None and closed.status is DisputeStatus.CLOSED
    escalated = disputes.escalate(inquiry, Money(1500, "USD"), LATER, LATER)
    assert escalated is not None
    assert (escalated.kind, escalated.fee.amount) == (DisputeKind.CHARGEBACK, 1500)
    assert disputes.escalate(escalated, Money(1500, "USD"), LATER, LATER) is None


def test_an_unanswered_dispute_past_its_due_date_is_lost_an_inquiry_closed() -> None:
    due = AT + timedelta(days=7)
    assert disputes.expire(_dispute(), due - timedelta(seconds=1)) is None
    lost = disputes.expire(_dispute(), due)
    assert lost is not None and lost.status is DisputeStatus.LOST
    closed = disputes.expire(_dispute(kind=DisputeKind.INQUIRY), due)
    assert closed is not None and closed.status is DisputeStatus.CLOSED
    answered = disputes.submit_evidence(_dispute(), LATER)
    assert disputes.expire(answered, due + timedelta(days=30)) is None


def test_events_of_each_step() -> None:
    opened = _dispute()
    reviewed = disputes.submit_evidence(opened, LATER)
    lost = dataclasses.replace(reviewed, status=DisputeStatus.LOST)
    assert disputes.dispute_events(None, opened) == [DISPUTE_CREATED]
    assert disputes.dispute_events(opened, reviewed) == [DISPUTE_UPDATED]
    assert disputes.dispute_events(reviewed, lost) == [DISPUTE_CLOSED]
    assert disputes.dispute_events(None, lost) == [DISPUTE_CREATED, DISPUTE_CLOSED]
    assert disputes.dispute_events(lost, lost) == []


def _moves(before: Dispute | None, after: Dispute) -> list[tuple[str, str, str, int]]:
    out = []
    for txn in postings_for_dispute(before, after):
        debit = next(e for e in txn.entries if e.amount < 0)
        credit = next(e for e in txn.entries if e.amount > 0)
        out.append((txn.id, debit.account_id, credit.account_id, credit.amount))
    return out


def test_opening_a_chargeback_withdraws_amount_and_fee_from_the_pending_balance() -> None:
    assert _moves(None, _dispute()) == [
        ("dp_1:open", "merchant_pending.USD", "dispute.USD", 800),
        ("dp_1:fee", "merchant_pending.USD", "fee_revenue.USD", 1500),
    ]


def test_winning_returns_the_amount_and_keeps_the_fee_losing_pays_the_channel() -> None:
    opened = _dispute(status=DisputeStatus.UNDER_REVIEW)
    won = dataclasses.replace(opened, status=DisputeStatus.WON)
    lost = dataclasses.replace(opened, status=DisputeStatus.LOST)
    assert _moves(opened, won) == [("dp_1:won", "dispute.USD", "merchant_pending.USD", 800)]
    assert _moves(opened, lost) == [("dp_1:lost", "dispute.USD", "clearing.acq.USD", 800)]


def test_inquiries_and_evidence_move_no_money() -> None:
    inquiry = _dispute(kind=DisputeKind.INQUIRY)
    assert postings_for_dispute(None, inquiry) == []
    closed = dataclasses.replace(inquiry, status=DisputeStatus.CLOSED)
    assert postings_for_dispute(inquiry, closed) == []
    assert postings_for_dispute(_dispute(), disputes.submit_evidence(_dispute(), LATER)) == []
