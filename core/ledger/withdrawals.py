"""Withdrawals to a bank account (pure): the value, and the journal transactions of its two phases.

A withdrawal is scored by the risk engine first, like a payment. Let
through, it reserves its amount at once (a hold from the account to the bank
channel's clearing account), is sent to the bank asynchronously, and is
posted when the bank confirms or voided when it refuses::

    WithdrawFunds        hold  account -> clearing.bank_transfer.<CUR>  (PENDING)
    bank confirms        post the hold                                   (POST_PENDING)
    bank refuses         release the hold                                (VOID_PENDING)

States::

    risk declines   -> DECLINED            nothing held, never sent
    risk reviews    -> REQUIRES_REVIEW     held, not sent --approve--> PENDING
                                                          --reject---> DECLINED (released)
    risk allows     -> PENDING             held, sent --bank--> SUCCEEDED | FAILED
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from core.domain.errors import IllegalTransitionError, Reason
from core.domain.money import Money
from core.domain.payment import Failure
from core.ledger.accounts import clearing_account_id
from core.ledger.journal import JournalTransaction, Phase, TransactionKind, transfer

BANK_CHANNEL = "bank_transfer"
"""The clearing account's channel name for payouts (the bank channel of issue 5)."""


class WithdrawalState(enum.Enum):
    """Where a withdrawal is."""

    PENDING = "pending"
    """Held on the account, sent to (or waiting for) the bank."""
    SUCCEEDED = "succeeded"
    """The bank paid it out: the hold was posted."""
    FAILED = "failed"
    """The bank refused it: the hold was released."""
    REQUIRES_REVIEW = "requires_review"
    """The risk engine wants a person to look: held, not sent until an admin approves."""
    DECLINED = "declined"
    """Declined by risk (at once, nothing held) or rejected in review (the hold released)."""

    @property
    def is_final(self) -> bool:
        """Whether nothing more happens to the withdrawal."""
        return self in (WithdrawalState.SUCCEEDED, WithdrawalState.FAILED, WithdrawalState.DECLINED)


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """Money leaving an account of the merchant for a bank account."""

    id: str
    merchant_id: str
    account_id: str
    amount: Money
    bank_account: str
    state: WithdrawalState
    created_at: datetime
    updated_at: datetime
    description: str = ""
    failure: Failure | None = None
    """Why it was declined or refused (``risk_declined``, ``risk_rejected``, the bank's code)."""
    bank_reference: str = ""
    """The bank's reference of the payout, once the bank answered."""
    risk_decision: str = ""
    """The risk engine's decision (``approve``, ``review``, ``decline``)."""
    risk_score: int = 0
    needs_attention: bool = False
    """The bank never answered within the status-query schedule: a person settles it."""

    @property
    def hold_id(self) -> str:
        """The journal transaction reserving the amount."""
        return f"{self.id}:hold"


def withdrawal_hold(withdrawal: Withdrawal) -> JournalTransaction:
    """The hold placed when the withdrawal is requested."""
    amount = withdrawal.amount
    return transfer(
        withdrawal.hold_id,
        withdrawal.merchant_id,
        TransactionKind.WITHDRAWAL,
        debit=withdrawal.account_id,
        credit=clearing_account_id(BANK_CHANNEL, amount.currency),
        amount=amount.amount,
        currency=amount.currency,
        phase=Phase.PENDING,
        reference=withdrawal.id,
        description=withdrawal.description,
    )


def withdrawal_outcome(withdrawal: Withdrawal, succeeded: bool) -> JournalTransaction:
    """Post the hold (the bank paid out) or release it (the bank refused)."""
    if not succeeded:
        return release_hold(withdrawal)
    hold = withdrawal_hold(withdrawal)
    return JournalTransaction(
        id=f"{withdrawal.id}:post",
        merchant_id=withdrawal.merchant_id,
        kind=TransactionKind.WITHDRAWAL,
        phase=Phase.POST_PENDING,
        entries=hold.entries,
        pending_id=withdrawal.hold_id,
        reference=withdrawal.id,
        description=withdrawal.description,
    )


def holds_money(withdrawal: Withdrawal) -> bool:
    """Whether the withdrawal's hold is open (reserved, neither posted nor released)."""
    return withdrawal.state in (WithdrawalState.PENDING, WithdrawalState.REQUIRES_REVIEW)


def require_review(withdrawal: Withdrawal) -> None:
    """FAILED_PRECONDITION WITHDRAWAL_NOT_IN_REVIEW unless an admin may decide on it."""
    if withdrawal.state is not WithdrawalState.REQUIRES_REVIEW:
        raise IllegalTransitionError(
            Reason.WITHDRAWAL_NOT_IN_REVIEW,
            withdrawal_id=withdrawal.id,
            state=withdrawal.state.value,
        )


def release_hold(withdrawal: Withdrawal) -> JournalTransaction:
    """Release the hold: the bank refused, or an admin rejected the withdrawal in review."""
    return JournalTransaction(
        id=f"{withdrawal.id}:void",
        merchant_id=withdrawal.merchant_id,
        kind=TransactionKind.WITHDRAWAL,
        phase=Phase.VOID_PENDING,
        pending_id=withdrawal.hold_id,
        reference=withdrawal.id,
    )
