"""AccountService: wallets, balances, transfers and statements over the ledger.

Mutations run through the RequestExecutor like payments (idempotent per
request_id, the reply stored with the change). Their journal entries are
written inside the executor's transaction, so a transfer and its reply
commit together. Payments reach the ledger without this service: their
postings are written by the payment save itself (core/storage/payments.py).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from core.domain import ids
from core.domain.audit import Actor, AuditRecord
from core.domain.commands import CreatePayment
from core.domain.errors import IllegalTransitionError, NotFoundError, PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import (
    TOP_UP_KEY,
    WALLET_KEY,
    CaptureMethod,
    ConfirmationMethod,
    Failure,
    Payment,
    PaymentState,
    RiskAssessment,
    RiskDecision,
)
from core.gate import RequestGate, RpcClass
from core.ledger.accounts import Account, AccountKind, system_account
from core.ledger.commands import (
    OpenWallet,
    StatementQuery,
    TransferFunds,
    WalletPayment,
    WithdrawalReviewDecision,
    WithdrawFunds,
)
from core.ledger.journal import JournalTransaction, TransactionKind, transfer
from core.ledger.withdrawals import (
    Withdrawal,
    WithdrawalState,
    release_hold,
    require_review,
    withdrawal_hold,
    withdrawal_outcome,
)
from core.risk.screen import Screening
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.payments.service import PaymentService
from core.service.wallet_channel import WALLET_CHANNEL
from core.storage.ledger import StatementLine
from core.storage.repository import PaymentRepository, PaymentTransaction, RequestKey
from riskengine.features import Transaction

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


class PayoutChannel(Protocol):
    """Where withdrawals go: the bank channel's payout side (core/service/payouts.py).

    ``submit`` hands a PENDING withdrawal to the bank and returns at once; the
    bank's answer comes later (its signed notification, or a status query)
    and is applied with ``AccountService.complete_withdrawal``. ``submit``
    must be idempotent by ``withdrawal.id``: after a crash between commit and
    submit, the status query submits it again.
    """

    first_query_after_s: float
    """When a status query first asks the bank about a withdrawal submitted now."""

    async def submit(self, withdrawal: Withdrawal) -> None:
        """Send ``withdrawal`` to the bank (its answer arrives via complete_withdrawal)."""
        ...


class UnwiredPayoutChannel:
    """A PayoutChannel that sends nothing: withdrawals stay PENDING, their money held.

    For services built without a bank (tests of other parts); an operator
    resolves each withdrawal with ``AccountService.complete_withdrawal``.
    """

    first_query_after_s = 3600.0

    async def submit(self, withdrawal: Withdrawal) -> None:
        """Log that nothing was sent."""
        log.warning("withdrawal %s stays pending: no bank channel is wired", withdrawal.id)


class Screener(Protocol):
    """The risk engine as withdrawals and wallet payments use it (core/risk/screen.py)."""

    async def assess(
        self, transaction: Transaction, member: str, *, tx: PaymentTransaction | None = None
    ) -> Screening:
        """Score ``transaction`` (counted in velocity under ``member``)."""
        ...


@dataclass(frozen=True, slots=True)
class Transferred:
    """What TransferFunds answers: the journal transaction and both accounts after it."""

    transaction_id: str
    from_account: Account
    to_account: Account


class AccountService:
    """Wallets, balances, transfers, statements, wallet payments and withdrawals."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        store: LedgerStore,
        gate: RequestGate,
        payments: PaymentService,
        repository: PaymentRepository,
        risk: Screener,
        payouts: PayoutChannel | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._executor = executor
        self._store = store
        self._gate = gate
        self._payments = payments
        self._repo = repository
        self._risk = risk
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
            # Locked: the funds check below and the posting of payments.insert
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
            payment_id = ids.new_id(ids.PAYMENT)
            risk = await self._score(tx, command, wallet, payment_id, method="wallet")
            payment = Payment(
                id=payment_id,
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
                risk=risk,
            )
            if risk.decision is not RiskDecision.APPROVE:
                # Nothing moves. A wallet payment is captured in this very
                # transaction and has no channel to send it to later, so one
                # risk wants reviewed is declined too, saying so
                # (risk_review_required): the merchant may ask again after a
                # person cleared the customer (an allow list entry).
                failure = (
                    _RISK_DECLINED
                    if risk.decision is RiskDecision.DECLINE
                    else _RISK_REVIEW_REQUIRED
                )
                payment = dataclasses.replace(
                    payment, state=PaymentState.DECLINED, amount_captured=zero, failure=failure
                )
            await tx.payments.insert(payment)  # a capture posts wallet -> merchant_pending
            return Plan(payment.id, result=payment)

        key = RequestKey(command.merchant_id, "PayFromWallet", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def withdraw(
        self, command: WithdrawFunds, request: RequestIdentity, encoder: Encoder[Withdrawal]
    ) -> Reply:
        """Score, reserve ``amount`` on the account and send it to the bank; answers at once.

        Risk DECLINE: DECLINED, nothing held. REVIEW: REQUIRES_REVIEW, held,
        not sent until an admin approves. ALLOW: PENDING, held, sent.
        """
        sent: list[Withdrawal] = []  # set when this call (not a replay) must submit it

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Withdrawal]:
            # Not locked here: ``post`` locks the account with the clearing
            # account in id order (locking this one first could deadlock with
            # a bank answer, which locks them in that order) and checks funds.
            account = await self._store.account_in(tx, command.merchant_id, command.account_id)
            account = _check_account(account, command.account_id, command.amount, wallet_only=False)
            withdrawal_id = ids.new_id(ids.WITHDRAWAL)
            risk = await self._score(tx, command, account, withdrawal_id, method="withdrawal")
            state = {
                RiskDecision.APPROVE: WithdrawalState.PENDING,
                RiskDecision.REVIEW: WithdrawalState.REQUIRES_REVIEW,
                RiskDecision.DECLINE: WithdrawalState.DECLINED,
            }[risk.decision]
            withdrawal = Withdrawal(
                id=withdrawal_id,
                merchant_id=command.merchant_id,
                account_id=account.id,
                amount=command.amount,
                bank_account=command.bank_account,
                state=state,
                created_at=at,
                updated_at=at,
                description=command.description,
                failure=_RISK_DECLINED if state is WithdrawalState.DECLINED else None,
                risk_decision=risk.decision.value,
                risk_score=risk.score,
            )
            if state is not WithdrawalState.DECLINED:
                # The hold is decided before anything is written (INSUFFICIENT_FUNDS
                # leaves no withdrawal behind) and reserves the money at once.
                await self._store.post(tx, withdrawal_hold(withdrawal), at)
            first_query = self._first_query(at) if state is WithdrawalState.PENDING else None
            await self._store.insert_withdrawal(tx, withdrawal, first_query)
            if state is WithdrawalState.PENDING:
                sent.append(withdrawal)
            return Plan(withdrawal.id, result=withdrawal)

        key = RequestKey(command.merchant_id, "WithdrawFunds", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        await self._submit(reply, sent)
        return reply

    async def decide_withdrawal_review(
        self,
        actor: Actor,
        decision: WithdrawalReviewDecision,
        request: RequestIdentity,
        encoder: Encoder[Withdrawal],
    ) -> Reply:
        """Approve (send to the bank) or reject (release the hold) a withdrawal held by risk."""
        sent: list[Withdrawal] = []
        rpc = "ApproveWithdrawal" if decision.approve else "RejectWithdrawal"

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Withdrawal]:
            held = await self._store.lock_withdrawal(
                tx, decision.merchant_id, decision.withdrawal_id
            )
            if held is None:
                raise NotFoundError(
                    Reason.WITHDRAWAL_NOT_FOUND, withdrawal_id=decision.withdrawal_id
                )
            require_review(held)
            if decision.approve:
                done = dataclasses.replace(held, state=WithdrawalState.PENDING, updated_at=at)
                await self._store.save_withdrawal_state(tx, done, self._first_query(at))
                sent.append(done)
            else:
                await self._store.post(tx, release_hold(held), at)
                failure = Failure(
                    "risk_rejected", decision.note or "The withdrawal was rejected in review."
                )
                done = dataclasses.replace(
                    held, state=WithdrawalState.DECLINED, failure=failure, updated_at=at
                )
                await self._store.save_withdrawal_state(tx, done)
            await tx.audit.record(
                AuditRecord(
                    actor=actor,
                    action="withdrawal_review.approve"
                    if decision.approve
                    else ("withdrawal_review.reject"),
                    resource_type="withdrawal",
                    resource_id=held.id,
                    merchant_id=held.merchant_id,
                    at=at,
                    before=_withdrawal_snapshot(held),
                    after=_withdrawal_snapshot(done),
                    details={"request_id": request.request_id, "note": decision.note},
                )
            )
            return Plan(done.id, result=done)

        key = RequestKey(decision.merchant_id, rpc, request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        await self._submit(reply, sent)
        return reply

    async def _submit(self, reply: Reply, sent: list[Withdrawal]) -> None:
        if reply.ok and sent:
            # After the commit, never inside it: the bank must not hear of a
            # withdrawal that did not commit. A crash (or a failed submit) in
            # between leaves it PENDING with its hold; its status query finds
            # the bank never got it and submits it again.
            try:
                await self._payouts.submit(sent[0])
            except Exception:
                log.exception("payout %s not submitted; its status query retries", sent[0].id)

    def _first_query(self, at: datetime) -> datetime:
        return at + timedelta(seconds=self._payouts.first_query_after_s)

    async def _score(
        self,
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
        screening = await self._risk.assess(transaction, member, tx=tx)
        return screening.verdict.assessment

    async def get_withdrawal(self, merchant_id: str, withdrawal_id: str) -> Withdrawal:
        """One withdrawal; NOT_FOUND for unknown ids and other merchants' withdrawals."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        withdrawal = await self._store.get_withdrawal(merchant_id, withdrawal_id)
        if withdrawal is None:
            raise NotFoundError(Reason.WITHDRAWAL_NOT_FOUND, withdrawal_id=withdrawal_id)
        return withdrawal

    async def complete_withdrawal(
        self,
        merchant_id: str,
        withdrawal_id: str,
        succeeded: bool,
        *,
        failure: Failure | None = None,
        bank_reference: str = "",
    ) -> Withdrawal:
        """Apply the bank's answer: post the hold (paid out) or release it (refused).

        Idempotent and order-safe: only a PENDING withdrawal changes; one
        already answered keeps its first answer (a notification delivered
        twice, or a status query racing it, changes nothing), and one held
        for review was never sent, so no bank answer applies to it.
        """
        at = self._clock()
        async with self._repo.transaction() as tx:
            withdrawal = await self._store.lock_withdrawal(tx, merchant_id, withdrawal_id)
            if withdrawal is None:
                raise NotFoundError(Reason.WITHDRAWAL_NOT_FOUND, withdrawal_id=withdrawal_id)
            if withdrawal.state is not WithdrawalState.PENDING:
                return withdrawal
            await self._store.post(tx, withdrawal_outcome(withdrawal, succeeded), at)
            done = dataclasses.replace(
                withdrawal,
                state=WithdrawalState.SUCCEEDED if succeeded else WithdrawalState.FAILED,
                failure=None if succeeded else failure or _BANK_REFUSED,
                bank_reference=bank_reference or withdrawal.bank_reference,
                needs_attention=False,
                updated_at=at,
            )
            await self._store.save_withdrawal_state(tx, done)
        return done

    async def statement(self, query: StatementQuery) -> list[StatementLine]:
        """A page of the account's entries, newest first; NOT_FOUND as for ``get_account``."""
        await self.get_account(query.merchant_id, query.account_id)
        return await self._store.statement(
            query.merchant_id, query.account_id, query.page_size, query.before_seq
        )


_RISK_DECLINED = Failure("risk_declined", "Declined by risk screening.")
_RISK_REVIEW_REQUIRED = Failure(
    "risk_review_required",
    "Risk screening wants a person to look at this wallet payment; it was not made.",
)
_BANK_REFUSED = Failure("payout_refused", "The bank refused the payout.")


def _withdrawal_snapshot(withdrawal: Withdrawal) -> dict[str, object]:
    return {
        "state": withdrawal.state.value,
        "amount_minor": withdrawal.amount.amount,
        "currency": withdrawal.amount.currency,
        "account_id": withdrawal.account_id,
        "risk_decision": withdrawal.risk_decision,
        "risk_score": withdrawal.risk_score,
    }


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
