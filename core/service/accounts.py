"""AccountService: the account use cases over the ledger, the wallet ones in this module.

Mutations run through the RequestExecutor like payments (idempotent per
request_id, the reply stored with the change). Their journal entries are
written inside the executor's transaction, so a transfer and its reply
commit together. Payments reach the ledger without this service: their
postings are written by the payment save itself (core/storage/payments.py).

Wallets, balances, transfers, statements, top-ups and wallet payments are
here; withdrawals are in core/service/withdrawals.py (``WithdrawalUseCases``,
mixed in); the checks money leaving an account passes are in
core/service/account_checks.py and the ledger's storage port in
core/ports/ledger.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from core.domain import ids
from core.domain.commands import CreatePayment
from core.domain.errors import IllegalTransitionError, NotFoundError, Reason
from core.domain.money import Money
from core.domain.payment import (
    TOP_UP_KEY,
    WALLET_KEY,
    CaptureMethod,
    ConfirmationMethod,
    Failure,
    Payment,
    PaymentState,
    RiskDecision,
)
from core.gate import RequestGate, RpcClass
from core.ledger.accounts import Account, AccountKind, system_account
from core.ledger.commands import OpenWallet, StatementQuery, TransferFunds, WalletPayment
from core.ledger.journal import TransactionKind, transfer
from core.ledger.records import StatementLine
from core.ports.ledger import LedgerStore
from core.ports.repository import PaymentRepository, PaymentTransaction, RequestKey
from core.service.account_checks import RISK_DECLINED, Screener, check_account, score_outflow
from core.service.customers import check_customer_reference
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.payment_changes import payment_change
from core.service.payments.service import PaymentService
from core.service.payments.verification import PendingCode, customer_destination
from core.service.wallet_channel import WALLET_CHANNEL
from core.service.withdrawals import PayoutChannel, UnwiredPayoutChannel, WithdrawalUseCases


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Transferred:
    """What TransferFunds answers: the journal transaction and both accounts after it."""

    transaction_id: str
    from_account: Account
    to_account: Account


class AccountService(WithdrawalUseCases):
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
        """Open a customer wallet (no overdraft) with a zero balance.

        Its ``customer_id``, when a customer id (``cus_...``), names a live customer.
        """

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Account]:
            await check_customer_reference(tx, command.merchant_id, command.customer_id)
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
        check_account(account, account_id, command.amount, wallet_only=False)

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
        check_account(wallet, account_id, command.amount, wallet_only=True)
        metadata = {**command.metadata, TOP_UP_KEY: account_id}
        top_up = dataclasses.replace(
            command, capture_method=CaptureMethod.AUTOMATIC, metadata=metadata
        )
        return await self._payments.create_payment(top_up, request, encoder)

    async def pay_from_wallet(
        self, command: WalletPayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """A payment funded by a wallet, captured at once in one transaction with its debit.

        One risk steps up waits for its customer's verification code instead
        (core/service/payments/verification.py), when the wallet's customer has
        an email to send it to.
        """
        codes = self._payments.verification
        asked: list[PendingCode] = []

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            asked.clear()  # a plan run again (a retried transaction) asks anew
            # Locked: the funds check below and the posting of payments.save
            # happen under the same row lock, so parallel payments from one
            # wallet cannot both pass the check. Checked BEFORE anything is
            # written: a refused payment leaves no payment row behind. (Lock
            # order stays the global id order: wallet ids, acct_..., sort
            # before every system account the posting locks next.)
            wallet = await self._store.lock_account(tx, command.merchant_id, command.account_id)
            wallet = check_account(wallet, command.account_id, command.amount, wallet_only=True)
            if wallet.balance.available < command.amount.amount:
                raise IllegalTransitionError(
                    Reason.INSUFFICIENT_FUNDS,
                    account_id=wallet.id,
                    available=Money(max(wallet.balance.available, 0), wallet.currency),
                    requested=command.amount,
                )
            zero = Money.zero(command.amount.currency)
            payment_id = ids.new_id(ids.PAYMENT)
            risk = await score_outflow(self._risk, tx, command, wallet, payment_id, method="wallet")
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
            if risk.decision is RiskDecision.STEP_UP and codes is not None:
                destination = await customer_destination(tx, wallet.merchant_id, wallet.customer_id)
                if destination:
                    unpaid = dataclasses.replace(
                        payment, state=PaymentState.REQUIRES_CONFIRMATION, amount_captured=zero
                    )
                    waiting, code = await codes.ask(tx, unpaid, risk, destination, at)
                    asked.append(code)
                    return Plan(waiting.id, result=waiting)
            if risk.decision is not RiskDecision.APPROVE:
                # Nothing moves. A wallet payment is captured in this very
                # transaction and has no channel to send it to later, so one
                # risk wants reviewed is declined too, saying so
                # (risk_review_required): the merchant may ask again after a
                # person cleared the customer (an allow list entry).
                # One risk wants its customer to authenticate (STEP_UP) with no
                # address to send a code to is declined authentication_required.
                failure = {
                    RiskDecision.DECLINE: RISK_DECLINED,
                    RiskDecision.STEP_UP: _AUTHENTICATION_REQUIRED,
                }.get(risk.decision, _RISK_REVIEW_REQUIRED)
                payment = dataclasses.replace(
                    payment, state=PaymentState.DECLINED, amount_captured=zero, failure=failure
                )
            # A capture: its posting moves wallet -> merchant_pending, with the payment.
            await tx.payments.save(payment_change(None, payment))
            return Plan(payment.id, result=payment)

        key = RequestKey(command.merchant_id, "PayFromWallet", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        if codes is not None and asked:
            await codes.deliver(asked)  # committed: the code may go out
        return reply

    async def statement(self, query: StatementQuery) -> list[StatementLine]:
        """A page of the account's entries, newest first; NOT_FOUND as for ``get_account``."""
        await self.get_account(query.merchant_id, query.account_id)
        return await self._store.statement(
            query.merchant_id, query.account_id, query.page_size, query.before_seq
        )


_AUTHENTICATION_REQUIRED = Failure(
    "authentication_required",
    "Risk screening wants the customer authenticated, and no code can be sent to them.",
)
_RISK_REVIEW_REQUIRED = Failure(
    "risk_review_required",
    "Risk screening wants a person to look at this wallet payment; it was not made.",
)
