"""What money moving out of an account is checked against: the account itself, and risk.

Shared by the account use cases: a transfer, a top-up, a wallet payment and a
withdrawal each check the account's kind and currency (``check_account``);
a wallet payment and a withdrawal are also scored by the risk engine like a
payment (``score_outflow``).
"""

from __future__ import annotations

from typing import Protocol

from core.domain.errors import IllegalTransitionError, NotFoundError, PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import Failure, RiskAssessment
from core.ledger.accounts import Account, AccountKind
from core.ledger.commands import WalletPayment, WithdrawFunds
from core.ports.repository import PaymentTransaction
from riskengine import Screening, Transaction

RISK_DECLINED = Failure("risk_declined", "Declined by risk screening.")
"""The failure of a wallet payment or a withdrawal risk declined."""


class Screener(Protocol):
    """The risk engine as withdrawals and wallet payments use it (core/risk/screen.py)."""

    async def assess(
        self, transaction: Transaction, member: str, *, tx: PaymentTransaction | None = None
    ) -> Screening:
        """Score ``transaction`` (counted in velocity under ``member``)."""
        ...


async def score_outflow(
    risk: Screener,
    tx: PaymentTransaction,
    command: WalletPayment | WithdrawFunds,
    account: Account,
    member: str,
    *,
    method: str,
) -> RiskAssessment:
    """The risk engine's verdict on money leaving ``account``, scored like a payment.

    Velocity counts it under the account's customer (a wallet's), so a
    customer draining a wallet in many small steps is seen as one.
    """
    transaction = Transaction(
        merchant_id=command.merchant_id,
        amount=command.amount,
        card=None,
        customer_id=account.customer_id,
        method=method,
    )
    screening = await risk.assess(transaction, member, tx=tx)
    return screening.verdict.assessment


def check_account(
    account: Account | None, account_id: str, amount: Money, *, wallet_only: bool
) -> Account:
    """``account`` (read as ``account_id``) if it may move ``amount``; raise otherwise.

    NOT_FOUND for a missing account (another merchant's reads as missing too);
    FAILED_PRECONDITION when its kind does not move this way (``wallet_only``:
    only a customer wallet; otherwise wallets and the available balance);
    INVALID_ARGUMENT when the currencies differ.
    """
    if account is None:
        raise NotFoundError(Reason.ACCOUNT_NOT_FOUND, account_id=account_id)
    if wallet_only and account.kind is not AccountKind.CUSTOMER_WALLET:
        raise IllegalTransitionError(
            Reason.ACCOUNT_NOT_A_WALLET, account_id=account.id, kind=account.kind.value
        )
    if not account.kind.transferable:
        raise IllegalTransitionError(
            Reason.ACCOUNT_NOT_TRANSFERABLE, account_id=account.id, kind=account.kind.value
        )
    if account.currency != amount.currency:
        raise PaycoreError(
            Reason.ACCOUNT_CURRENCY_MISMATCH,
            given=amount.currency,
            account_id=account.id,
            expected=account.currency,
        )
    return account
