"""The ledger store of the account service: writes in a request's transaction, reads on the pool.

Kept apart from core/storage/ledger.py because that module is imported by
core/storage/payments.py (the payment save hook) and this one maps a lost
connection to an error (core/storage/unavailable.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable

import asyncpg

from core.ledger.accounts import Account
from core.ledger.fees import FeeRule
from core.ledger.journal import JournalTransaction
from core.ledger.records import DueWithdrawal, SettlementRecord, StatementLine
from core.ledger.settlement import SettlementDay
from core.ledger.withdrawals import Withdrawal
from core.storage import ledger, ledger_settlements, ledger_withdrawals
from core.storage.unavailable import unavailable_as_error


@runtime_checkable
class _OnConnection(Protocol):
    """A transaction that exposes its asyncpg connection (PostgresTransaction does)."""

    @property
    def connection(self) -> asyncpg.Connection:
        """The transaction's connection."""
        ...


def _connection(tx: object) -> asyncpg.Connection:
    if not isinstance(tx, _OnConnection):
        raise TypeError("ledger storage needs a PostgresTransaction")
    return tx.connection


class PostgresLedgerStore:
    """The ledger as the account service sees it (see the module docstring)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def insert_account(self, tx: object, account: Account) -> None:
        """Store a new account inside ``tx``."""
        await ledger.insert_account(_connection(tx), account)

    async def account_in(self, tx: object, merchant_id: str, account_id: str) -> Account | None:
        """An account as ``tx`` sees it (no lock: ``post`` locks what it moves)."""
        return await ledger.get_account(_connection(tx), merchant_id, account_id)

    async def lock_account(self, tx: object, merchant_id: str, account_id: str) -> Account | None:
        """An account, locked until ``tx`` ends (a spend checked and made under the lock)."""
        accounts = await ledger.lock_accounts(_connection(tx), merchant_id, [account_id])
        return accounts.get(account_id)

    async def post(self, tx: object, txn: JournalTransaction, at: datetime) -> None:
        """Write ``txn`` inside ``tx``; see ``post``."""
        await ledger.post(_connection(tx), txn, at)

    async def get_account(self, merchant_id: str, account_id: str) -> Account | None:
        """One account of one merchant, with its balance."""
        async with unavailable_as_error():
            return await ledger.get_account(self._pool, merchant_id, account_id)

    async def statement(
        self, merchant_id: str, account_id: str, page_size: int, before_seq: int | None
    ) -> list[StatementLine]:
        """A page of an account's entries, newest first."""
        async with unavailable_as_error():
            return await ledger.statement(
                self._pool, merchant_id, account_id, page_size, before_seq
            )

    async def settle(
        self, tx: object, day: SettlementDay, fee: FeeRule, at: datetime
    ) -> SettlementRecord:
        """Settle ``day`` inside ``tx``; see core/storage/ledger_settlements.py ``settle``."""
        return await ledger_settlements.settle(_connection(tx), day, fee, at)

    async def settle_alone(
        self, day: SettlementDay, fee: FeeRule, at: datetime
    ) -> SettlementRecord:
        """Settle ``day`` in a transaction of its own (the daily job)."""
        async with (
            unavailable_as_error(),
            self._pool.acquire() as connection,
            connection.transaction(),
        ):
            return await ledger_settlements.settle(connection, day, fee, at)

    async def settlement(self, day: SettlementDay) -> SettlementRecord | None:
        """The stored settlement of ``day``, with its lines."""
        async with unavailable_as_error():
            return await ledger_settlements.settlement_record(self._pool, day)

    async def due_settlements(self, last_closed: date) -> list[SettlementDay]:
        """The settlements the daily job owes up to ``last_closed`` (see ledger_settlements.py)."""
        async with unavailable_as_error():
            return await ledger_settlements.due_settlements(self._pool, last_closed)

    async def fee_rules(self, merchant_id: str) -> dict[str, FeeRule]:
        """The merchant's own fee rules, by method."""
        async with unavailable_as_error():
            return await ledger_settlements.fee_rules(self._pool, merchant_id)

    async def replace_fee_rules(
        self, tx: object, merchant_id: str, rules: dict[str, FeeRule]
    ) -> dict[str, FeeRule]:
        """Replace the merchant's fee rules inside ``tx``; returns the previous ones."""
        return await ledger_settlements.replace_fee_rules(_connection(tx), merchant_id, rules)

    async def insert_withdrawal(
        self, tx: object, withdrawal: Withdrawal, first_query: datetime | None = None
    ) -> None:
        """Store a new withdrawal inside ``tx`` (``first_query``: its first status query)."""
        await ledger_withdrawals.insert_withdrawal(_connection(tx), withdrawal, first_query)

    async def lock_withdrawal(
        self, tx: object, merchant_id: str, withdrawal_id: str
    ) -> Withdrawal | None:
        """A withdrawal, locked until ``tx`` ends."""
        return await ledger_withdrawals.get_withdrawal(
            _connection(tx), merchant_id, withdrawal_id, lock=True
        )

    async def save_withdrawal_state(
        self, tx: object, withdrawal: Withdrawal, first_query: datetime | None = None
    ) -> None:
        """Store a withdrawal's new state inside ``tx`` (``first_query`` once sent to the bank)."""
        await ledger_withdrawals.save_withdrawal_state(_connection(tx), withdrawal, first_query)

    async def lease_due_withdrawals(
        self, now: datetime, lease: timedelta, batch_size: int
    ) -> list[DueWithdrawal]:
        """PENDING withdrawals whose status query is due, leased to this worker."""
        async with unavailable_as_error():
            return await ledger_withdrawals.lease_due_withdrawals(
                self._pool, now, lease, batch_size
            )

    async def reschedule_withdrawal_query(
        self, merchant_id: str, withdrawal_id: str, next_query: datetime | None
    ) -> None:
        """Count a status query that could not tell; None: needs a person."""
        async with unavailable_as_error():
            await ledger_withdrawals.reschedule_withdrawal_query(
                self._pool, merchant_id, withdrawal_id, next_query
            )

    async def get_withdrawal(self, merchant_id: str, withdrawal_id: str) -> Withdrawal | None:
        """One withdrawal of one merchant."""
        async with unavailable_as_error():
            return await ledger_withdrawals.get_withdrawal(self._pool, merchant_id, withdrawal_id)
