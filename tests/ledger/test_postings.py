"""The posting rules and the journal's own rules (pure: no servers)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from core.domain.attempt import AttemptOutcome, ChannelResult
from core.domain.errors import PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import (
    CaptureMethod,
    CardSummary,
    Payment,
    PaymentState,
    Refund,
    RefundState,
)
from core.ledger import (
    Account,
    AccountKind,
    Balance,
    Entry,
    JournalTransaction,
    Phase,
    postings_for,
)
from core.ledger.balances import apply
from core.ledger.journal import TransactionKind, transfer
from core.ledger.withdrawals import (
    Withdrawal,
    WithdrawalState,
    withdrawal_hold,
    withdrawal_outcome,
)
from tests.support.payments import domain_payment

AT = datetime(2026, 11, 22, tzinfo=UTC)
CARD = CardSummary("visa", "424242", "4242", 12, 2030, "fp")
OK = ChannelResult(AttemptOutcome.SUCCEEDED, "ref")


def _payment(state: PaymentState = PaymentState.PENDING, **changes: object) -> Payment:
    values: dict[str, object] = {
        "merchant_id": "m1",
        "capture_method": CaptureMethod.MANUAL,
        "card": CARD,
        "created_at": AT,
        "updated_at": AT,
        "channel": "sandbox",
    }
    return domain_payment(state, **{**values, **changes})


def _refund(amount: int, state: RefundState, refund_id: str = "re_1") -> Refund:
    return Refund(refund_id, "pay_1", Money(amount, "USD"), state, "", AT)


def test_no_money_moves_while_a_payment_is_unconfirmed_or_pending() -> None:
    assert postings_for(None, _payment(PaymentState.REQUIRES_CONFIRMATION)) == []
    assert postings_for(None, _payment(PaymentState.PENDING)) == []
    pending = _payment(PaymentState.PENDING)
    assert postings_for(pending, dataclasses.replace(pending, description="x")) == []


def test_authorization_places_a_hold_on_the_merchant_pending_balance() -> None:
    (hold,) = postings_for(_payment(), _payment(PaymentState.AUTHORIZED))
    assert (hold.id, hold.phase, hold.kind) == (
        "pay_1:hold",
        Phase.PENDING,
        TransactionKind.AUTHORIZATION,
    )
    assert hold.entries == (
        Entry("clearing.sandbox.USD", -1000, "USD"),
        Entry("merchant_pending.USD", 1000, "USD"),
    )


def test_partial_capture_posts_the_hold_for_the_captured_amount() -> None:
    authorized = _payment(PaymentState.AUTHORIZED)
    captured = dataclasses.replace(
        authorized, state=PaymentState.CAPTURED, amount_captured=Money(600, "USD")
    )
    (post,) = postings_for(authorized, captured)
    assert (post.phase, post.pending_id) == (Phase.POST_PENDING, "pay_1:hold")
    assert post.entries[1] == Entry("merchant_pending.USD", 600, "USD")


def test_capture_in_flight_keeps_the_hold() -> None:
    authorized = _payment(PaymentState.AUTHORIZED)
    assert (
        postings_for(authorized, dataclasses.replace(authorized, operation_in_flight="capture"))
        == []
    )


def test_void_releases_the_hold() -> None:
    authorized = _payment(PaymentState.AUTHORIZED)
    (void,) = postings_for(authorized, dataclasses.replace(authorized, state=PaymentState.CANCELED))
    assert (void.phase, void.pending_id, void.entries) == (Phase.VOID_PENDING, "pay_1:hold", ())


def test_automatic_capture_posts_at_once() -> None:
    pending = _payment(capture_method=CaptureMethod.AUTOMATIC)
    captured = dataclasses.replace(
        pending, state=PaymentState.CAPTURED, amount_captured=pending.amount
    )
    (capture,) = postings_for(pending, captured)
    assert (capture.id, capture.phase, capture.method) == ("pay_1:capture", Phase.POSTED, "card")


def test_a_succeeded_refund_posts_the_reverse_once() -> None:
    captured = _payment(PaymentState.CAPTURED, amount_captured=Money(1000, "USD"))
    sent = dataclasses.replace(captured, refunds=(_refund(300, RefundState.PENDING),))
    assert postings_for(captured, sent) == []
    done = dataclasses.replace(
        sent,
        state=PaymentState.PARTIALLY_REFUNDED,
        amount_refunded=Money(300, "USD"),
        refunds=(_refund(300, RefundState.SUCCEEDED),),
    )
    (refund,) = postings_for(sent, done)
    assert refund.id == "pay_1:refund:re_1"
    assert refund.entries == (
        Entry("merchant_pending.USD", -300, "USD"),
        Entry("clearing.sandbox.USD", 300, "USD"),
    )
    assert postings_for(done, done) == []


def test_refunded_amount_must_match_the_refunds_that_succeeded() -> None:
    captured = _payment(PaymentState.CAPTURED, amount_captured=Money(1000, "USD"))
    with pytest.raises(ValueError, match="refunds that succeeded"):
        postings_for(captured, dataclasses.replace(captured, amount_refunded=Money(1, "USD")))


def test_journal_transaction_must_balance_per_currency() -> None:
    with pytest.raises(ValueError, match="sum to zero"):
        JournalTransaction(
            "t",
            "m1",
            TransactionKind.ADJUSTMENT,
            Phase.POSTED,
            (Entry("a", -5, "USD"), Entry("b", 4, "USD")),
        )
    with pytest.raises(ValueError, match="sum to zero"):
        JournalTransaction(
            "t",
            "m1",
            TransactionKind.ADJUSTMENT,
            Phase.POSTED,
            (Entry("a", -5, "USD"), Entry("b", 5, "EUR")),
        )
    with pytest.raises(ValueError, match="pending_id"):
        JournalTransaction("t", "m1", TransactionKind.VOID, Phase.VOID_PENDING)


def _wallet(available: int, *, overdraft: bool = False) -> Account:
    return Account(
        "acct_w",
        "m1",
        AccountKind.CUSTOMER_WALLET,
        "USD",
        overdraft,
        AT,
        balance=Balance(credits_posted=available),
    )


def _available(amount: int) -> Account:
    return Account("merchant_available.USD", "m1", AccountKind.MERCHANT_AVAILABLE, "USD", True, AT)


_W_TO_AVAILABLE = {"debit": "acct_w", "credit": "merchant_available.USD"}


def test_a_wallet_cannot_spend_more_than_it_has() -> None:
    spend = transfer(
        "t",
        "m1",
        TransactionKind.TRANSFER,
        debit="acct_w",
        credit="merchant_available.USD",
        amount=101,
        currency="USD",
    )
    accounts = {"acct_w": _wallet(100), "merchant_available.USD": _available(0)}
    with pytest.raises(PaycoreError) as caught:
        apply(spend, accounts)
    assert caught.value.reason is Reason.INSUFFICIENT_FUNDS
    accounts["acct_w"] = _wallet(100, overdraft=True)
    assert apply(spend, accounts)["acct_w"].posted == -1


def test_holds_count_against_what_a_wallet_may_spend() -> None:
    accounts = {"acct_w": _wallet(100), "merchant_available.USD": _available(0)}
    hold = transfer(
        "h",
        "m1",
        TransactionKind.AUTHORIZATION,
        **_W_TO_AVAILABLE,
        amount=80,
        currency="USD",
        phase=Phase.PENDING,
    )
    held = apply(hold, accounts)
    assert (held["acct_w"].available, held["acct_w"].posted) == (20, 100)
    accounts = {
        k: dataclasses.replace(a, balance=held.get(k, a.balance)) for k, a in accounts.items()
    }
    post = transfer(
        "p",
        "m1",
        TransactionKind.CAPTURE,
        **_W_TO_AVAILABLE,
        amount=50,
        currency="USD",
        phase=Phase.POST_PENDING,
        pending_id="h",
    )
    posted = apply(post, accounts, hold.entries)
    assert (posted["acct_w"].posted, posted["acct_w"].available) == (50, 50)
    assert posted["merchant_available.USD"].pending == 0
    too_much = dataclasses.replace(
        post, entries=(Entry("acct_w", -90, "USD"), Entry("merchant_available.USD", 90, "USD"))
    )
    with pytest.raises(ValueError, match="more than hold"):
        apply(too_much, accounts, hold.entries)


def test_wallet_payments_and_top_ups_route_through_the_wallet() -> None:
    pending = _payment(capture_method=CaptureMethod.AUTOMATIC)
    captured = dataclasses.replace(
        pending, state=PaymentState.CAPTURED, amount_captured=pending.amount
    )
    wallet = {"paycore.wallet_account_id": "acct_w"}
    paid = dataclasses.replace(captured, metadata=wallet)
    (capture,) = postings_for(dataclasses.replace(pending, metadata=wallet), paid)
    assert (capture.entries[0].account_id, capture.method) == ("acct_w", "wallet")
    target = {"paycore.top_up_account_id": "acct_w"}
    top_up = dataclasses.replace(captured, metadata=target)
    (credit,) = postings_for(dataclasses.replace(pending, metadata=target), top_up)
    assert credit.entries == (
        Entry("clearing.sandbox.USD", -1000, "USD"),
        Entry("acct_w", 1000, "USD"),
    )


def test_a_withdrawal_is_a_hold_posted_or_voided() -> None:
    withdrawal = Withdrawal(
        "wd_1", "m1", "acct_w", Money(500, "USD"), "DE89", WithdrawalState.PENDING, AT, AT
    )
    hold = withdrawal_hold(withdrawal)
    assert (hold.phase, hold.entries[1].account_id) == (Phase.PENDING, "clearing.bank_transfer.USD")
    posted = withdrawal_outcome(withdrawal, succeeded=True)
    assert (posted.phase, posted.pending_id, posted.entries) == (
        Phase.POST_PENDING,
        hold.id,
        hold.entries,
    )
    assert withdrawal_outcome(withdrawal, succeeded=False).phase is Phase.VOID_PENDING
