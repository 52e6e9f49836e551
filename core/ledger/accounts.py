"""Ledger accounts: what kinds exist, how system accounts are named, and balances.

Sign convention: an entry's amount is signed minor units, credit positive and
debit negative, so an account's balance is the plain sum of its entries. What
paycore owes someone (a customer's wallet, a merchant's balance, fee revenue)
is a positive balance; a channel's clearing account goes negative as the
channel collects money it owes paycore.

Every account belongs to one merchant (``merchant_id`` scopes all ledger
rows). The system accounts of a merchant have fixed ids, made on first use:
``merchant_pending.USD``, ``merchant_available.USD``, ``fee_revenue.USD``,
``clearing.<channel>.USD``, ``dispute.USD``. Customer wallets have generated ids ``acct_...``.
Keeping even clearing and fee revenue per merchant means no single row is
updated by every merchant's payments (no platform-wide hot spot).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class AccountKind(enum.Enum):
    """What an account represents."""

    CUSTOMER_WALLET = "customer_wallet"
    """Stored value of one of the merchant's customers; never below zero unless allowed."""
    MERCHANT_PENDING = "merchant_pending"
    """Captured for the merchant, not yet settled (authorizations are holds on it)."""
    MERCHANT_AVAILABLE = "merchant_available"
    """Settled: the merchant's to withdraw or transfer."""
    CHANNEL_CLEARING = "channel_clearing"
    """What a channel collected and owes paycore (negative while it owes)."""
    FEE_REVENUE = "fee_revenue"
    """Fees paycore charged the merchant."""
    DISPUTE = "dispute"
    """Money open chargebacks withdrew from the merchant (core/ledger/disputes.py)."""

    @property
    def is_system(self) -> bool:
        """Whether paycore makes the account itself (one per merchant, currency, channel)."""
        return self is not AccountKind.CUSTOMER_WALLET

    @property
    def transferable(self) -> bool:
        """Whether a merchant may move money out of or into it with TransferFunds.

        Pending balances, clearing and fee revenue move only by paycore's own
        postings (payments, settlement): a transfer there would break the
        link between the ledger and what channels and settlement report.
        """
        return self in (AccountKind.CUSTOMER_WALLET, AccountKind.MERCHANT_AVAILABLE)


def system_account_id(kind: AccountKind, currency: str) -> str:
    """The fixed id of a merchant's system account of ``kind`` (not clearing) in ``currency``."""
    if not kind.is_system or kind is AccountKind.CHANNEL_CLEARING:
        raise ValueError(f"{kind.name} has no fixed id; see clearing_account_id")
    return f"{kind.value}.{currency}"


def clearing_account_id(channel: str, currency: str) -> str:
    """The fixed id of the merchant's clearing account at ``channel`` in ``currency``."""
    if not channel:
        raise ValueError("a clearing account needs a channel")
    return f"clearing.{channel}.{currency}"


def kind_of_system_account(account_id: str) -> AccountKind | None:
    """The kind a fixed system account id names; None for anything else (wallets)."""
    head = account_id.split(".", 1)[0]
    return {
        "merchant_pending": AccountKind.MERCHANT_PENDING,
        "merchant_available": AccountKind.MERCHANT_AVAILABLE,
        "fee_revenue": AccountKind.FEE_REVENUE,
        "dispute": AccountKind.DISPUTE,
        "clearing": AccountKind.CHANNEL_CLEARING,
    }.get(head)


def opens_overdrawn(kind: AccountKind) -> bool:
    """Whether a system account of ``kind`` may go below zero.

    Clearing goes negative by design (the channel owes), the pending balance
    when a refund follows a settlement, fee revenue never in practice. The
    available balance may not: it is what a merchant can transfer out, and an
    overdraft there would create money for a customer's wallet from nothing.
    """
    return kind is not AccountKind.MERCHANT_AVAILABLE and kind.is_system


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's balance in minor units, TigerBeetle style (all four sums non-negative)."""

    debits_posted: int = 0
    credits_posted: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    @property
    def posted(self) -> int:
        """Credits minus debits of posted entries (may be negative for overdraft accounts)."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """What may still be spent: posted minus outgoing holds (incoming holds do not count)."""
        return self.posted - self.debits_pending

    @property
    def pending(self) -> int:
        """Net amount of open holds: incoming minus outgoing."""
        return self.credits_pending - self.debits_pending


@dataclass(frozen=True, slots=True)
class Account:
    """One ledger account of one merchant."""

    id: str
    merchant_id: str
    kind: AccountKind
    currency: str
    allow_overdraft: bool
    created_at: datetime
    customer_id: str = ""
    description: str = ""
    balance: Balance = Balance()


def system_account(merchant_id: str, account_id: str, at: datetime) -> Account | None:
    """The empty system account ``account_id`` names, as first made; None for a non-system id."""
    kind = kind_of_system_account(account_id)
    if kind is None:
        return None
    currency = account_id.rsplit(".", 1)[1]
    return Account(account_id, merchant_id, kind, currency, opens_overdrawn(kind), at)
