"""What the account RPCs ask for, validated (frozen values; the API layer builds them)."""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.money import Money


@dataclass(frozen=True, slots=True)
class OpenWallet:
    """CreateAccount: a customer wallet in ``currency``."""

    merchant_id: str
    currency: str
    customer_id: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class TransferFunds:
    """TransferFunds: ``amount`` from one account of the merchant to another."""

    merchant_id: str
    from_account_id: str
    to_account_id: str
    amount: Money
    description: str = ""


@dataclass(frozen=True, slots=True)
class StatementQuery:
    """ListAccountEntries: a page of one account's entries, newest first."""

    merchant_id: str
    account_id: str
    page_size: int
    before_seq: int | None = None
    """The page cursor: only entries older than this sequence number."""


@dataclass(frozen=True, slots=True)
class WalletPayment:
    """PayFromWallet: ``amount`` from a customer wallet to the merchant."""

    merchant_id: str
    account_id: str
    amount: Money
    description: str = ""


@dataclass(frozen=True, slots=True)
class WithdrawFunds:
    """WithdrawFunds: ``amount`` from a wallet or the available balance to a bank account."""

    merchant_id: str
    account_id: str
    amount: Money
    bank_account: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class WithdrawalReviewDecision:
    """ApproveWithdrawal / RejectWithdrawal: an admin's decision on a withdrawal held by risk."""

    merchant_id: str
    withdrawal_id: str
    approve: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class FeeRuleChange:
    """One method's fee rule in SetFeeRules (``bps`` 0..10000, ``fixed_minor`` >= 0)."""

    method: str
    bps: int
    fixed_minor: int


@dataclass(frozen=True, slots=True)
class SetFeeRules:
    """SetFeeRules: a merchant's fee rules, replacing all of its previous ones."""

    merchant_id: str
    rules: tuple[FeeRuleChange, ...]
