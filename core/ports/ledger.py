"""LedgerStore: the ledger's storage as the account use cases use it (core/storage/ledger_store.py).

Accounts, their journal and withdrawals: wallets, transfers and statements
(core/service/accounts.py) and withdrawals (core/service/withdrawals.py) share it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.ledger.accounts import Account
from core.ledger.journal import JournalTransaction
from core.ledger.records import StatementLine
from core.ledger.withdrawals import Withdrawal
from core.ports.repository import PaymentTransaction


class LedgerStore(Protocol):
    """Accounts, journal postings and withdrawals as the account use cases store them."""

    async def insert_account(self, tx: PaymentTransaction, account: Account) -> None:
        """Store a new account inside ``tx``."""
        ...

    async def account_in(
        self, tx: PaymentTransaction, merchant_id: str, account_id: str
    ) -> Account | None:
        """An account as ``tx`` sees it."""
        ...

    async def post(self, tx: PaymentTransaction, txn: JournalTransaction, at: datetime) -> None:
        """Write a journal transaction inside ``tx`` (INSUFFICIENT_FUNDS writes nothing)."""
        ...

    async def get_account(self, merchant_id: str, account_id: str) -> Account | None:
        """One account of one merchant."""
        ...

    async def lock_account(
        self, tx: PaymentTransaction, merchant_id: str, account_id: str
    ) -> Account | None:
        """An account, locked until ``tx`` ends."""
        ...

    async def insert_withdrawal(
        self, tx: PaymentTransaction, withdrawal: Withdrawal, first_query: datetime | None = None
    ) -> None:
        """Store a new withdrawal inside ``tx`` (``first_query``: its first status query)."""
        ...

    async def lock_withdrawal(
        self, tx: PaymentTransaction, merchant_id: str, withdrawal_id: str
    ) -> Withdrawal | None:
        """A withdrawal, locked until ``tx`` ends."""
        ...

    async def save_withdrawal_state(
        self, tx: PaymentTransaction, withdrawal: Withdrawal, first_query: datetime | None = None
    ) -> None:
        """Store a withdrawal's new state inside ``tx`` (``first_query`` once sent to the bank)."""
        ...

    async def get_withdrawal(self, merchant_id: str, withdrawal_id: str) -> Withdrawal | None:
        """One withdrawal of one merchant."""
        ...

    async def statement(
        self, merchant_id: str, account_id: str, page_size: int, before_seq: int | None
    ) -> list[StatementLine]:
        """A page of an account's entries, newest first."""
        ...
