"""AccountService: wallets, balances, transfers and statements over the ledger.

Mutations run through the RequestExecutor like payments (idempotent per
request_id, the reply stored with the change). Their journal entries are
written inside the executor's transaction, so a transfer and its reply
commit together. Payments reach the ledger without this service: their
postings are written by the payment save itself (core/storage/postgres.py).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from core.domain import ids
from core.domain.commands import CreatePayment
from core.domain.errors import IllegalTransitionError, NotFoundError, PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import CaptureMethod, ConfirmationMethod, Payment, PaymentState
from core.gate import RequestGate, RpcClass
from core.ledger.accounts import Account, AccountKind, system_account
from core.ledger.commands import (
    OpenWallet,
    StatementQuery,
    TransferFunds,
    WalletPayment,
    WithdrawFunds,
)
from core.ledger.journal import JournalTransaction, TransactionKind, transfer
from core.ledger.postings import TOP_UP_KEY, WALLET_KEY
from core.ledger.withdrawals import (
    Withdrawal,
    WithdrawalState,
    withdrawal_hold,
    withdrawal_outcome,
)
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.payments import PaymentService
from core.service.wallet_channel import WALLET_CHANNEL
from core.storage.ledger import StatementLine
from core.storage.repository import PaymentRepository, PaymentTransaction, RequestKey

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


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

    async def lock_account(
        self, tx: PaymentTransaction, merchant_id: str, account_id: str
    ) -> Account | None:
        """An account, locked until ``tx`` ends."""
        ...

    async def insert_withdrawal(self, tx: PaymentTransaction, withdrawal: Withdrawal) -> None:
        """Store a new withdrawal inside ``tx``."""
        ...

    async def lock_withdrawal(
        self, tx: PaymentTransaction, merchant_id: str, withdrawal_id: str
    ) -> Withdrawal | None:
        """A withdrawal, locked until ``tx`` ends."""
        ...

    async def save_withdrawal_state(self, tx: PaymentTransaction, withdrawal: Withdrawal) -> None:
        """Store a withdrawal's new state inside ``tx``."""
        ...

    async def get_withdrawal(self, merchant_id: str, withdrawal_id: str) -> Withdrawal | None:
        """One withdrawal of one merchant."""
        ...

    async def statement(
        self, merchant_id: str, account_id: str, page_size: int, before_seq: int | None
    ) -> list[StatementLine]:
        """A page of an account's entries, newest first."""
        ...


class PayoutChannel(Protocol):
    """Where withdrawals go: the asynchronous bank-transfer channel (issue 5).

    ``submit`` hands a PENDING withdrawal to the bank and returns at once; the
    bank's answer comes later and is applied with
    ``AccountService.complete_withdrawal`` (the channel's callback or status
    query calls it). ``submit`` must be idempotent by ``withdrawal.id``: after a
    crash between commit and submit, a withdrawal may be submitted again.
    """

    async def submit(self, withdrawal: Withdrawal) -> None:
        """Send ``withdrawal`` to the bank (answer arrives via complete_withdrawal)."""
        ...


class UnwiredPayoutChannel:
    """The PayoutChannel until the bank channel (issue 5) lands: keeps withdrawals PENDING.

    The money is reserved (held) and nothing is sent; an operator (or the bank
    channel, once wired in core/app.py) resolves each withdrawal with
    ``AccountService.complete_withdrawal``.
    """

    async def submit(self, withdrawal: Withdrawal) -> None:
        """Log that nothing was sent."""
        log.warning("withdrawal %s stays pending: no bank channel is wired yet", withdrawal.id)


@dataclass(frozen=True, slots=True)
class Transferred:
    """What TransferFunds answers: the journal transaction and both accounts after it."""

    transaction_id: str
    from_account: Account
    to_account: Account


class AccountService:
    """CreateAccount, GetAccount, TransferFunds and ListAccountEntries."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        store: LedgerStore,
        gate: RequestGate,
        payments: PaymentService,
        repository: PaymentRepository,
        payouts: PayoutChannel | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._executor = executor
        self._store = store
        self._gate = gate
        self._payments = payments
        self._repo = repository
        self._payouts = payouts or UnwiredPayoutChannel()
        self._clock = clock

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
        _check_account(account, account_id, command.amount, wallet_only=False)

    async def top_up(
        self,
        account_id: str,
        command: CreatePayment,
        request: RequestIdentity,
        encoder: Encoder[Payment],
    ) -> Reply:
        """Top up a wallet from a card: CreatePayment, its capture crediting the wallet.

        Reuses PaymentService's whole authorization path (risk screening,
        routing, the channel call, unknown outcomes), so a top-up is scored
        and recorded like any payment; the wallet is named in the payment's
        metadata, which is how its postings credit the wallet.
        """
        wallet = await self.get_account(command.merchant_id, account_id)
        _check_account(wallet, account_id, command.amount, wallet_only=True)
        metadata = {**command.metadata, TOP_UP_KEY: account_id}
        top_up = dataclasses.replace(
            command, capture_method=CaptureMethod.AUTOMATIC, metadata=metadata
        )
        return await self._payments.create_payment(top_up, request, encoder)

    async def pay_from_wallet(
        self, command: WalletPayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """A payment funded by a wallet, captured at once in one transaction with its debit."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            # Locked: the funds check below and the posting of insert_payment
            # happen under the same row lock, so parallel payments from one
            # wallet cannot both pass the check. Checked BEFORE anything is
            # written: a refused payment leaves no payment row behind. (Lock
            # order stays the global id order: wallet ids, acct_..., sort
            # before every system account the posting locks next.)
            wallet = await self._store.lock_account(tx, command.merchant_id, command.account_id)
            wallet = _check_account(wallet, command.account_id, command.amount, wallet_only=True)
            if wallet.balance.available < command.amount.amount:
                raise IllegalTransitionError(
                    Reason.INSUFFICIENT_FUNDS,
                    account_id=wallet.id,
                    available=Money(max(wallet.balance.available, 0), wallet.currency),
                    requested=command.amount,
                )
            zero = Money.zero(command.amount.currency)
            payment = Payment(
                id=ids.new_id(ids.PAYMENT),
                merchant_id=command.merchant_id,
                state=PaymentState.CAPTURED,
                amount=command.amount,
                amount_captured=command.amount,
                amount_refunded=zero,
                capture_method=CaptureMethod.AUTOMATIC,
                confirmation_method=ConfirmationMethod.AUTOMATIC,
                card=None,
                created_at=at,
                updated_at=at,
                customer_id=wallet.customer_id,
                description=command.description,
                metadata={WALLET_KEY: wallet.id},
                channel=WALLET_CHANNEL,
            )
            await tx.insert_payment(payment)  # posts wallet -> merchant_pending with it
            return Plan(payment.id, result=payment)

        key = RequestKey(command.merchant_id, "PayFromWallet", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def withdraw(
        self, command: WithdrawFunds, request: RequestIdentity, encoder: Encoder[Withdrawal]
    ) -> Reply:
        """Reserve ``amount`` on the account and send it to the bank; answers PENDING."""
        created: list[Withdrawal] = []  # set when this call (not a replay) made it

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Withdrawal]:
            # Not locked here: ``post`` locks the account with the clearing
            # account in id order (locking this one first could deadlock with
            # a bank answer, which locks them in that order) and checks funds.
            account = await self._store.account_in(tx, command.merchant_id, command.account_id)
            account = _check_account(account, command.account_id, command.amount, wallet_only=False)
            withdrawal = Withdrawal(
                id=ids.new_id(ids.WITHDRAWAL),
                merchant_id=command.merchant_id,
                account_id=account.id,
                amount=command.amount,
                bank_account=command.bank_account,
                state=WithdrawalState.PENDING,
                created_at=at,
                updated_at=at,
                description=command.description,
            )
            # The hold is decided before anything is written (INSUFFICIENT_FUNDS
            # leaves no withdrawal behind) and reserves the money at once.
            await self._store.post(tx, withdrawal_hold(withdrawal), at)
            await self._store.insert_withdrawal(tx, withdrawal)
            created.append(withdrawal)
            return Plan(withdrawal.id, result=withdrawal)

        key = RequestKey(command.merchant_id, "WithdrawFunds", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        if reply.ok and created:
            # After the commit, never inside it: the bank must not hear of a
            # withdrawal that did not commit. A crash in between leaves it
            # PENDING with its hold, for the bank channel's reconciliation.
            await self._payouts.submit(created[0])
        return reply

    async def get_withdrawal(self, merchant_id: str, withdrawal_id: str) -> Withdrawal:
        """One withdrawal; NOT_FOUND for unknown ids and other merchants' withdrawals."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        withdrawal = await self._store.get_withdrawal(merchant_id, withdrawal_id)
        if withdrawal is None:
            raise NotFoundError(Reason.WITHDRAWAL_NOT_FOUND, withdrawal_id=withdrawal_id)
        return withdrawal

    async def complete_withdrawal(
        self, merchant_id: str, withdrawal_id: str, succeeded: bool
    ) -> Withdrawal:
        """Apply the bank's answer: post the hold (paid out) or release it (refused).

        Idempotent: a withdrawal already answered keeps its first answer (a
        bank callback delivered twice changes nothing).
        """
        at = self._clock()
        async with self._repo.transaction() as tx:
            withdrawal = await self._store.lock_withdrawal(tx, merchant_id, withdrawal_id)
            if withdrawal is None:
                raise NotFoundError(Reason.WITHDRAWAL_NOT_FOUND, withdrawal_id=withdrawal_id)
            if withdrawal.state is not WithdrawalState.PENDING:
                return withdrawal
            await self._store.post(tx, withdrawal_outcome(withdrawal, succeeded), at)
            state = WithdrawalState.SUCCEEDED if succeeded else WithdrawalState.FAILED
            done = dataclasses.replace(withdrawal, state=state, updated_at=at)
            await self._store.save_withdrawal_state(tx, done)
        return done

    async def statement(self, query: StatementQuery) -> list[StatementLine]:
        """A page of the account's entries, newest first; NOT_FOUND as for ``get_account``."""
        await self.get_account(query.merchant_id, query.account_id)
        return await self._store.statement(
            query.merchant_id, query.account_id, query.page_size, query.before_seq
        )


def _check_account(
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
