"""AccountService: wallets, balances, transfers and statements over the ledger.

Mutations run through the RequestExecutor like payments (idempotent per
request_id, the reply stored with the change). Their journal entries are
written inside the executor's transaction, so a transfer and its reply
commit together. Payments reach the ledger without this service: their
postings are written by the payment save itself (core/storage/postgres.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.domain import ids
from core.domain.errors import IllegalTransitionError, NotFoundError, PaycoreError, Reason
from core.gate import RequestGate, RpcClass
from core.ledger.accounts import Account, AccountKind, system_account
from core.ledger.commands import OpenWallet, StatementQuery, TransferFunds
from core.ledger.journal import JournalTransaction, TransactionKind, transfer
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.storage.ledger import StatementLine
from core.storage.repository import PaymentTransaction, RequestKey


class LedgerStore(Protocol):
    """The ledger's storage as this service uses it (core/storage/ledger_store.py)."""

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

    async def statement(
        self, merchant_id: str, account_id: str, page_size: int, before_seq: int | None
    ) -> list[StatementLine]:
        """A page of an account's entries, newest first."""
        ...


@dataclass(frozen=True, slots=True)
class Transferred:
    """What TransferFunds answers: the journal transaction and both accounts after it."""

    transaction_id: str
    from_account: Account
    to_account: Account


class AccountService:
    """CreateAccount, GetAccount, TransferFunds and ListAccountEntries."""

    def __init__(self, *, executor: RequestExecutor, store: LedgerStore, gate: RequestGate) -> None:
        self._executor = executor
        self._store = store
        self._gate = gate

    async def open_wallet(
        self, command: OpenWallet, request: RequestIdentity, encoder: Encoder[Account]
    ) -> Reply:
        """Open a customer wallet (no overdraft) with a zero balance."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Account]:
            account = Account(
                id=ids.new_id(ids.ACCOUNT),
                merchant_id=command.merchant_id,
                kind=AccountKind.CUSTOMER_WALLET,
                currency=command.currency,
                allow_overdraft=False,
                created_at=at,
                customer_id=command.customer_id,
                description=command.description,
            )
            await self._store.insert_account(tx, account)
            return Plan(account.id, result=account)

        key = RequestKey(command.merchant_id, "CreateAccount", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def get_account(self, merchant_id: str, account_id: str) -> Account:
        """One account of the merchant; NOT_FOUND for unknown ids and other merchants' accounts."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        account = await self._store.get_account(merchant_id, account_id)
        if account is None:
            raise NotFoundError(Reason.ACCOUNT_NOT_FOUND, account_id=account_id)
        return account

    async def transfer(
        self, command: TransferFunds, request: RequestIdentity, encoder: Encoder[Transferred]
    ) -> Reply:
        """Move money between two of the merchant's transferable accounts, atomically."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Transferred]:
            for account_id in (command.from_account_id, command.to_account_id):
                await self._transferable(tx, command, account_id, at)
            txn = transfer(
                ids.new_id(ids.JOURNAL),
                command.merchant_id,
                TransactionKind.TRANSFER,
                debit=command.from_account_id,
                credit=command.to_account_id,
                amount=command.amount.amount,
                currency=command.amount.currency,
                description=command.description,
            )
            await self._store.post(tx, txn, at)  # locks both accounts; checks the balance
            source = await self._store.account_in(tx, command.merchant_id, command.from_account_id)
            target = await self._store.account_in(tx, command.merchant_id, command.to_account_id)
            assert source is not None and target is not None  # posted to just now
            return Plan(txn.id, result=Transferred(txn.id, source, target))

        key = RequestKey(command.merchant_id, "TransferFunds", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def _transferable(
        self, tx: PaymentTransaction, command: TransferFunds, account_id: str, at: datetime
    ) -> None:
        """Raise unless ``account_id`` is the merchant's, transferable, in the amount's currency."""
        account = await self._store.account_in(tx, command.merchant_id, account_id)
        # The available balance exists before its first movement, as an empty account.
        account = account or system_account(command.merchant_id, account_id, at)
        if account is None:
            raise NotFoundError(Reason.ACCOUNT_NOT_FOUND, account_id=account_id)
        if not account.kind.transferable:
            raise IllegalTransitionError(
                Reason.ACCOUNT_NOT_TRANSFERABLE, account_id=account_id, kind=account.kind.value
            )
        if account.currency != command.amount.currency:
            raise PaycoreError(
                Reason.ACCOUNT_CURRENCY_MISMATCH,
                given=command.amount.currency,
                account_id=account_id,
                expected=account.currency,
            )

    async def statement(self, query: StatementQuery) -> list[StatementLine]:
        """A page of the account's entries, newest first; NOT_FOUND as for ``get_account``."""
        await self.get_account(query.merchant_id, query.account_id)
        return await self._store.statement(
            query.merchant_id, query.account_id, query.page_size, query.before_seq
        )
