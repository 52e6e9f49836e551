"""Withdrawals to a bank account (pure): the value, and the journal transactions of its two phases.

A withdrawal reserves its amount at once (a hold from the account to the
bank channel's clearing account), is sent to the bank asynchronously, and is
posted when the bank confirms or voided when it refuses::

    WithdrawFunds        hold  account -> clearing.bank_transfer.<CUR>  (PENDING)
    bank confirms        post the hold                                   (POST_PENDING)
    bank refuses         release the hold                                (VOID_PENDING)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from core.domain.money import Money
from core.ledger.accounts import clearing_account_id
from core.ledger.journal import JournalTransaction, Phase, TransactionKind, transfer

BANK_CHANNEL = "bank_transfer"
"""The clearing account's channel name for payouts (the bank channel of issue 5)."""


class WithdrawalState(enum.Enum):
    """Where a withdrawal is."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


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
        return JournalTransaction(
            id=f"{withdrawal.id}:void",
            merchant_id=withdrawal.merchant_id,
            kind=TransactionKind.WITHDRAWAL,
            phase=Phase.VOID_PENDING,
            pending_id=withdrawal.hold_id,
            reference=withdrawal.id,
        )
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
