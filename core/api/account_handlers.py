"""The AccountService RPCs: wallets, balances, transfers and statements.

Runs through the same pipeline as every service (``core.api.pipeline``):
caller, policy, parsing, one error mapping. Validation is in
``core.api.requests.accounts``. The service's payout RPCs are in
``core.api.payout_handlers`` and its settlement RPCs in
``core.api.settlement_handlers``; ``generic_handler`` serves all three.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.ledger_convert import ENTRY_KIND, signed_money
from core.api.payout_handlers import PayoutHandlers
from core.api.pipeline import Handler, service_handler
from core.api.replies import payment_encoder
from core.api.requests import accounts as validation
from core.api.requests.fingerprint import request_identity
from core.api.requests.pages import encode_cursor
from core.api.settlement_handlers import SettlementHandlers
from core.api.status import encode_error
from core.domain.errors import PaycoreError, Reason
from core.ledger.accounts import Account, AccountKind
from core.ledger.journal import Phase
from core.ledger.records import StatementLine
from core.service.accounts import AccountService, Transferred
from core.service.execution import Encoder, Reply
from core.telemetry import Telemetry
from core.wire import convert
from paycore.v1 import account_service_pb2 as account_svc

SERVICE_NAME = "paycore.v1.AccountService"

_KIND = {
    AccountKind.CUSTOMER_WALLET: account_svc.Account.KIND_CUSTOMER_WALLET,
    AccountKind.MERCHANT_PENDING: account_svc.Account.KIND_MERCHANT_PENDING,
    AccountKind.MERCHANT_AVAILABLE: account_svc.Account.KIND_MERCHANT_AVAILABLE,
    AccountKind.CHANNEL_CLEARING: account_svc.Account.KIND_CHANNEL_CLEARING,
    AccountKind.FEE_REVENUE: account_svc.Account.KIND_FEE_REVENUE,
    AccountKind.DISPUTE: account_svc.Account.KIND_DISPUTE,
}
_PHASE = {
    Phase.POSTED: account_svc.AccountEntry.PHASE_POSTED,
    Phase.PENDING: account_svc.AccountEntry.PHASE_PENDING,
    Phase.POST_PENDING: account_svc.AccountEntry.PHASE_POST_PENDING,
}


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
        kind=ENTRY_KIND[line.kind],
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
_TOP_UP = payment_encoder(account_svc.TopUpWalletResponse)
_PAY_FROM_WALLET = payment_encoder(account_svc.PayFromWalletResponse)


class AccountHandlers:
    """One method per wallet RPC: validate, call the service, convert the answer."""

    def __init__(self, service: AccountService, secret: bytes) -> None:
        self._service = service
        self._secret = secret  # keys request fingerprints, signs page tokens

    async def create_account(
        self, caller: Caller, request: account_svc.CreateAccountRequest
    ) -> Reply:
        command = validation.create_account(caller.merchant_id, request)
        return await self._service.open_wallet(
            command, request_identity(request, self._secret), _CREATE
        )

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
        return await self._service.transfer(
            command, request_identity(request, self._secret), _TRANSFER
        )

    async def list_account_entries(
        self, caller: Caller, request: account_svc.ListAccountEntriesRequest
    ) -> account_svc.ListAccountEntriesResponse:
        query = validation.list_account_entries(caller.merchant_id, request, self._secret)
        lines = await self._service.statement(query)
        token = ""
        if len(lines) == query.page_size:
            scope = validation.statement_scope(query.merchant_id, query.account_id)
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
        return await self._service.top_up(
            account_id, command, request_identity(request, self._secret), _TOP_UP
        )

    async def pay_from_wallet(
        self, caller: Caller, request: account_svc.PayFromWalletRequest
    ) -> Reply:
        command = validation.pay_from_wallet(caller.merchant_id, request)
        return await self._service.pay_from_wallet(
            command, request_identity(request, self._secret), _PAY_FROM_WALLET
        )


def generic_handler(
    handlers: AccountHandlers,
    payouts: PayoutHandlers,
    settlement: SettlementHandlers,
    identity: IdentityResolver,
    telemetry: Telemetry | None = None,
) -> grpc.GenericRpcHandler[Any, Any]:
    """The AccountService method table for a grpc.aio server: wallets, payouts, settlement."""
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
        "WithdrawFunds": (account_svc.WithdrawFundsRequest, payouts.withdraw_funds),
        "GetWithdrawal": (account_svc.GetWithdrawalRequest, payouts.get_withdrawal),
        "ApproveWithdrawal": (account_svc.ApproveWithdrawalRequest, payouts.approve_withdrawal),
        "RejectWithdrawal": (account_svc.RejectWithdrawalRequest, payouts.reject_withdrawal),
        "SetFeeRules": (account_svc.SetFeeRulesRequest, settlement.set_fee_rules),
        "GetFeeRules": (account_svc.GetFeeRulesRequest, settlement.get_fee_rules),
        "RunSettlement": (account_svc.RunSettlementRequest, settlement.run_settlement),
        "GetSettlementReport": (
            account_svc.GetSettlementReportRequest,
            settlement.get_settlement_report,
        ),
        "ExportSettlementReport": (
            account_svc.ExportSettlementReportRequest,
            settlement.export_settlement_report,
        ),
    }
    return service_handler(
        account_svc.DESCRIPTOR.services_by_name["AccountService"], table, identity, telemetry
    )
