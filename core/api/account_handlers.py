"""The AccountService RPCs: wallets, balances, transfers and statements.

Runs through the same pipeline as PaymentService (``core.api.handlers``):
caller, policy, parsing, one error mapping. Validation is in
``core.api.account_validation``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.message import Message
from google.type import money_pb2

from core.api import account_validation as validation
from core.api import convert
from core.api.handlers import Handler, service_handler
from core.api.identity import Caller, IdentityResolver
from core.api.serialized import payment_encoder
from core.api.status import encode_error
from core.api.validation import encode_cursor, request_fingerprint
from core.domain.errors import PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import RiskAssessment, RiskDecision
from core.ledger.accounts import Account, AccountKind
from core.ledger.fees import FeeSchedule
from core.ledger.journal import Phase, TransactionKind
from core.ledger.settlement import settlement_csv_rows
from core.ledger.withdrawals import Withdrawal, WithdrawalState
from core.service.accounts import AccountService, Transferred
from core.service.execution import Encoder, Reply, RequestIdentity
from core.service.settlement import SettlementService
from core.storage.ledger import StatementLine
from core.storage.ledger_settlements import SettlementRecord
from core.telemetry import Telemetry
from paycore.v1 import account_service_pb2 as account_svc
from paycore.v1 import payment_pb2

SERVICE_NAME = "paycore.v1.AccountService"

_KIND = {
    AccountKind.CUSTOMER_WALLET: account_svc.Account.KIND_CUSTOMER_WALLET,
    AccountKind.MERCHANT_PENDING: account_svc.Account.KIND_MERCHANT_PENDING,
    AccountKind.MERCHANT_AVAILABLE: account_svc.Account.KIND_MERCHANT_AVAILABLE,
    AccountKind.CHANNEL_CLEARING: account_svc.Account.KIND_CHANNEL_CLEARING,
    AccountKind.FEE_REVENUE: account_svc.Account.KIND_FEE_REVENUE,
}
_ENTRY_KIND = {
    TransactionKind.AUTHORIZATION: account_svc.AccountEntry.KIND_AUTHORIZATION,
    TransactionKind.CAPTURE: account_svc.AccountEntry.KIND_CAPTURE,
    TransactionKind.VOID: account_svc.AccountEntry.KIND_VOID,
    TransactionKind.REFUND: account_svc.AccountEntry.KIND_REFUND,
    TransactionKind.TRANSFER: account_svc.AccountEntry.KIND_TRANSFER,
    TransactionKind.SETTLEMENT: account_svc.AccountEntry.KIND_SETTLEMENT,
    TransactionKind.ADJUSTMENT: account_svc.AccountEntry.KIND_ADJUSTMENT,
    TransactionKind.WITHDRAWAL: account_svc.AccountEntry.KIND_WITHDRAWAL,
}
_PHASE = {
    Phase.POSTED: account_svc.AccountEntry.PHASE_POSTED,
    Phase.PENDING: account_svc.AccountEntry.PHASE_PENDING,
    Phase.POST_PENDING: account_svc.AccountEntry.PHASE_POST_PENDING,
}


def signed_money(amount: int, currency: str) -> money_pb2.Money:
    """Signed minor units as google.type.Money (a negative amount: units and nanos both <= 0)."""
    wire = convert.money_to_proto(Money(abs(amount), currency))
    if amount < 0:
        wire.units, wire.nanos = -wire.units, -wire.nanos
    return wire


def account_to_proto(account: Account) -> account_svc.Account:
    """An account and its balance as its API message."""
    b, currency = account.balance, account.currency
    return account_svc.Account(
        id=account.id,
        kind=_KIND[account.kind],
        currency_code=currency,
        customer_id=account.customer_id,
        description=account.description,
        allow_overdraft=account.allow_overdraft,
        balance=account_svc.AccountBalance(
            posted=signed_money(b.posted, currency),
            available=signed_money(b.available, currency),
            pending_credits=signed_money(b.credits_pending, currency),
            pending_debits=signed_money(b.debits_pending, currency),
        ),
        create_time=convert.timestamp(account.created_at),
    )


def entry_to_proto(line: StatementLine) -> account_svc.AccountEntry:
    """One statement line as its API message."""
    return account_svc.AccountEntry(
        transaction_id=line.transaction_id,
        kind=_ENTRY_KIND[line.kind],
        phase=_PHASE[line.phase],
        amount=signed_money(line.amount, line.currency),
        reference=line.reference,
        description=line.description,
        hold_state=line.hold_state,
        create_time=convert.timestamp(line.created_at),
    )


_CREATE: Encoder[Account] = Encoder(
    success=lambda account: account_svc.CreateAccountResponse(
        account=account_to_proto(account)
    ).SerializeToString(deterministic=True),
    failure=encode_error,
)
_TRANSFER: Encoder[Transferred] = Encoder(
    success=lambda done: account_svc.TransferFundsResponse(
        transaction_id=done.transaction_id,
        from_account=account_to_proto(done.from_account),
        to_account=account_to_proto(done.to_account),
    ).SerializeToString(deterministic=True),
    failure=encode_error,
)


def settlement_to_proto(record: SettlementRecord) -> account_svc.SettlementReport:
    """A settlement and its lines as its API message."""
    figures = record.figures
    currency = figures.currency

    def money(amount: int) -> money_pb2.Money:
        return signed_money(amount, currency)

    return account_svc.SettlementReport(
        id=record.id,
        currency_code=currency,
        business_date=figures.business_date.isoformat(),
        captured=money(figures.captured),
        refunded=money(figures.refunded),
        fees=money(figures.fees),
        net=money(figures.net),
        settled=record.settled,
        journal_transaction_id=record.journal_id,
        lines=[
            account_svc.SettlementLine(
                transaction_id=line.item.transaction_id,
                kind=_ENTRY_KIND[line.item.kind],
                payment_id=line.item.reference,
                method=line.item.method,
                amount=money(line.item.amount),
                fee=money(line.fee),
            )
            for line in figures.lines
        ],
        create_time=convert.timestamp(record.created_at),
    )


def settlement_csv(record: SettlementRecord) -> str:
    """The settlement as CSV text (core/ledger/settlement.py says which columns)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(settlement_csv_rows(record.figures))
    return out.getvalue()


_RUN_SETTLEMENT: Encoder[SettlementRecord] = Encoder(
    success=lambda record: account_svc.RunSettlementResponse(
        report=settlement_to_proto(record)
    ).SerializeToString(deterministic=True),
    failure=encode_error,
)


_TOP_UP = payment_encoder(account_svc.TopUpWalletResponse)
_PAY_FROM_WALLET = payment_encoder(account_svc.PayFromWalletResponse)


_WITHDRAWAL_STATE = {
    WithdrawalState.PENDING: account_svc.Withdrawal.STATE_PENDING,
    WithdrawalState.SUCCEEDED: account_svc.Withdrawal.STATE_SUCCEEDED,
    WithdrawalState.FAILED: account_svc.Withdrawal.STATE_FAILED,
    WithdrawalState.REQUIRES_REVIEW: account_svc.Withdrawal.STATE_REQUIRES_REVIEW,
    WithdrawalState.DECLINED: account_svc.Withdrawal.STATE_DECLINED,
}


def withdrawal_to_proto(withdrawal: Withdrawal) -> account_svc.Withdrawal:
    """A withdrawal as its API message (the bank account masked to its last four)."""
    return account_svc.Withdrawal(
        id=withdrawal.id,
        account_id=withdrawal.account_id,
        amount=convert.money_to_proto(withdrawal.amount),
        bank_account_last4=withdrawal.bank_account[-4:],
        state=_WITHDRAWAL_STATE[withdrawal.state],
        description=withdrawal.description,
        create_time=convert.timestamp(withdrawal.created_at),
        update_time=convert.timestamp(withdrawal.updated_at),
        failure=(
            payment_pb2.PaymentFailure(
                code=withdrawal.failure.code, message=withdrawal.failure.message
            )
            if withdrawal.failure
            else None
        ),
        bank_reference=withdrawal.bank_reference,
        risk=(
            convert.risk_to_proto(
                RiskAssessment(withdrawal.risk_score, RiskDecision(withdrawal.risk_decision))
            )
            if withdrawal.risk_decision
            else None
        ),
        needs_attention=withdrawal.needs_attention,
    )


_WITHDRAW: Encoder[Withdrawal] = Encoder(
    success=lambda withdrawal: account_svc.WithdrawFundsResponse(
        withdrawal=withdrawal_to_proto(withdrawal)
    ).SerializeToString(deterministic=True),
    failure=encode_error,
)
_APPROVE_WITHDRAWAL: Encoder[Withdrawal] = Encoder(
    success=lambda withdrawal: account_svc.ApproveWithdrawalResponse(
        withdrawal=withdrawal_to_proto(withdrawal)
    ).SerializeToString(deterministic=True),
    failure=encode_error,
)
_REJECT_WITHDRAWAL: Encoder[Withdrawal] = Encoder(
    success=lambda withdrawal: account_svc.RejectWithdrawalResponse(
        withdrawal=withdrawal_to_proto(withdrawal)
    ).SerializeToString(deterministic=True),
    failure=encode_error,
)


def fee_rules_to_proto(schedule: FeeSchedule) -> list[account_svc.FeeRule]:
    """A merchant's own fee rules as API messages, by method."""
    return [
        account_svc.FeeRule(method=method, bps=rule.bps, fixed_minor=rule.fixed_minor)
        for method, rule in sorted(schedule.merchant.items())
    ]


_SET_FEE_RULES: Encoder[FeeSchedule] = Encoder(
    success=lambda schedule: account_svc.SetFeeRulesResponse(
        rules=fee_rules_to_proto(schedule)
    ).SerializeToString(deterministic=True),
    failure=encode_error,
)


class AccountHandlers:
    """One method per AccountService RPC: validate, call the service, convert the answer."""

    def __init__(
        self, service: AccountService, settlement: SettlementService, secret: bytes
    ) -> None:
        self._service = service
        self._settlement = settlement
        self._secret = secret  # keys request fingerprints, signs page tokens

    def _identity(self, request: Any) -> RequestIdentity:
        return RequestIdentity(request.request_id, request_fingerprint(request, self._secret))

    async def create_account(
        self, caller: Caller, request: account_svc.CreateAccountRequest
    ) -> Reply:
        command = validation.create_account(caller.merchant_id, request)
        return await self._service.open_wallet(command, self._identity(request), _CREATE)

    async def get_account(
        self, caller: Caller, request: account_svc.GetAccountRequest
    ) -> account_svc.GetAccountResponse:
        account_id = validation.account_id_of(request)
        account = await self._service.get_account(caller.merchant_id, account_id)
        return account_svc.GetAccountResponse(account=account_to_proto(account))

    async def transfer_funds(
        self, caller: Caller, request: account_svc.TransferFundsRequest
    ) -> Reply:
        command = validation.transfer_funds(caller.merchant_id, request)
        return await self._service.transfer(command, self._identity(request), _TRANSFER)

    async def list_account_entries(
        self, caller: Caller, request: account_svc.ListAccountEntriesRequest
    ) -> account_svc.ListAccountEntriesResponse:
        query = validation.list_account_entries(caller.merchant_id, request, self._secret)
        lines = await self._service.statement(query)
        token = ""
        if len(lines) == query.page_size:
            scope = validation.statement_scope(query.account_id)
            token = encode_cursor(str(lines[-1].seq), self._secret, scope)
        return account_svc.ListAccountEntriesResponse(
            entries=[entry_to_proto(line) for line in lines], next_page_token=token
        )

    async def top_up_wallet(self, caller: Caller, request: account_svc.TopUpWalletRequest) -> Reply:
        if request.payment_method.WhichOneof("kind") == "card" and not (
            caller.raw_card_data_allowed
        ):
            raise PaycoreError(Reason.RAW_CARD_DATA_NOT_ALLOWED)
        account_id, command = validation.top_up_wallet(
            caller.merchant_id, request, datetime.now(UTC).date()
        )
        return await self._service.top_up(account_id, command, self._identity(request), _TOP_UP)

    async def pay_from_wallet(
        self, caller: Caller, request: account_svc.PayFromWalletRequest
    ) -> Reply:
        command = validation.pay_from_wallet(caller.merchant_id, request)
        return await self._service.pay_from_wallet(
            command, self._identity(request), _PAY_FROM_WALLET
        )

    async def withdraw_funds(
        self, caller: Caller, request: account_svc.WithdrawFundsRequest
    ) -> Reply:
        command = validation.withdraw_funds(caller.merchant_id, request)
        return await self._service.withdraw(command, self._identity(request), _WITHDRAW)

    async def get_withdrawal(
        self, caller: Caller, request: account_svc.GetWithdrawalRequest
    ) -> account_svc.GetWithdrawalResponse:
        withdrawal_id = validation.withdrawal_id_of(request)
        withdrawal = await self._service.get_withdrawal(caller.merchant_id, withdrawal_id)
        return account_svc.GetWithdrawalResponse(withdrawal=withdrawal_to_proto(withdrawal))

    async def approve_withdrawal(
        self, caller: Caller, request: account_svc.ApproveWithdrawalRequest
    ) -> Reply:
        decision = validation.withdrawal_review(caller.merchant_id, request, approve=True)
        return await self._service.decide_withdrawal_review(
            caller.actor, decision, self._identity(request), _APPROVE_WITHDRAWAL
        )

    async def reject_withdrawal(
        self, caller: Caller, request: account_svc.RejectWithdrawalRequest
    ) -> Reply:
        decision = validation.withdrawal_review(caller.merchant_id, request, approve=False)
        return await self._service.decide_withdrawal_review(
            caller.actor, decision, self._identity(request), _REJECT_WITHDRAWAL
        )

    async def set_fee_rules(self, caller: Caller, request: account_svc.SetFeeRulesRequest) -> Reply:
        command = validation.set_fee_rules(caller.merchant_id, request)
        return await self._settlement.set_fee_rules(
            command, caller.actor, self._identity(request), _SET_FEE_RULES
        )

    async def get_fee_rules(
        self, caller: Caller, request: account_svc.GetFeeRulesRequest
    ) -> account_svc.GetFeeRulesResponse:
        schedule = await self._settlement.fee_schedule(caller.merchant_id)
        default = schedule.default
        return account_svc.GetFeeRulesResponse(
            rules=fee_rules_to_proto(schedule),
            default_rule=account_svc.FeeRule(bps=default.bps, fixed_minor=default.fixed_minor),
        )

    async def run_settlement(
        self, caller: Caller, request: account_svc.RunSettlementRequest
    ) -> Reply:
        day = validation.settlement_day(caller.merchant_id, request)
        return await self._settlement.run(
            day, caller.actor, self._identity(request), _RUN_SETTLEMENT
        )

    async def get_settlement_report(
        self, caller: Caller, request: account_svc.GetSettlementReportRequest
    ) -> account_svc.GetSettlementReportResponse:
        record = await self._settlement.report(
            validation.settlement_day(caller.merchant_id, request)
        )
        return account_svc.GetSettlementReportResponse(report=settlement_to_proto(record))

    async def export_settlement_report(
        self, caller: Caller, request: account_svc.ExportSettlementReportRequest
    ) -> account_svc.ExportSettlementReportResponse:
        day = validation.settlement_day(caller.merchant_id, request)
        record = await self._settlement.report(day)
        name = f"settlement-{day.merchant_id}-{day.currency}-{day.business_date.isoformat()}.csv"
        return account_svc.ExportSettlementReportResponse(
            file_name=name, csv=settlement_csv(record)
        )


def generic_handler(
    handlers: AccountHandlers, identity: IdentityResolver, telemetry: Telemetry | None = None
) -> grpc.GenericRpcHandler[Any, Any]:
    """The AccountService method table for a grpc.aio server."""
    table: dict[str, tuple[type[Message], Handler]] = {
        "CreateAccount": (account_svc.CreateAccountRequest, handlers.create_account),
        "GetAccount": (account_svc.GetAccountRequest, handlers.get_account),
        "TransferFunds": (account_svc.TransferFundsRequest, handlers.transfer_funds),
        "ListAccountEntries": (
            account_svc.ListAccountEntriesRequest,
            handlers.list_account_entries,
        ),
        "TopUpWallet": (account_svc.TopUpWalletRequest, handlers.top_up_wallet),
        "PayFromWallet": (account_svc.PayFromWalletRequest, handlers.pay_from_wallet),
        "WithdrawFunds": (account_svc.WithdrawFundsRequest, handlers.withdraw_funds),
        "GetWithdrawal": (account_svc.GetWithdrawalRequest, handlers.get_withdrawal),
        "ApproveWithdrawal": (account_svc.ApproveWithdrawalRequest, handlers.approve_withdrawal),
        "RejectWithdrawal": (account_svc.RejectWithdrawalRequest, handlers.reject_withdrawal),
        "SetFeeRules": (account_svc.SetFeeRulesRequest, handlers.set_fee_rules),
        "GetFeeRules": (account_svc.GetFeeRulesRequest, handlers.get_fee_rules),
        "RunSettlement": (account_svc.RunSettlementRequest, handlers.run_settlement),
        "GetSettlementReport": (
            account_svc.GetSettlementReportRequest,
            handlers.get_settlement_report,
        ),
        "ExportSettlementReport": (
            account_svc.ExportSettlementReportRequest,
            handlers.export_settlement_report,
        ),
    }
    return service_handler(
        account_svc.DESCRIPTOR.services_by_name["AccountService"], table, identity, telemetry
    )
