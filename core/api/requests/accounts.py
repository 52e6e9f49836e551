"""AccountService requests -> validated commands: wallets, transfers, payouts, settlement."""

from __future__ import annotations

import re
from datetime import date

from core.api.requests import fields
from core.api.requests.digits import iso_day
from core.api.requests.pages import cursor_page
from core.api.requests.payments import create_payment
from core.domain import ids
from core.domain.commands import CreatePayment
from core.domain.digits import is_ascii_digits
from core.domain.errors import FieldViolation, Reason, ValidationError, ViolationCollector
from core.domain.money import CurrencyError, Money, currency_exponent
from core.ledger.commands import (
    FeeRuleChange,
    OpenWallet,
    SetFeeRules,
    StatementQuery,
    TransferFunds,
    WalletPayment,
    WithdrawalReviewDecision,
    WithdrawFunds,
)
from core.ledger.fees import FEE_METHODS
from core.ledger.settlement import SettlementDay
from paycore.v1 import account_service_pb2 as account_svc
from paycore.v1 import payment_service_pb2 as svc

_SYSTEM_ACCOUNT = re.compile(
    r"(merchant_pending|merchant_available|fee_revenue|dispute|clearing\.[a-z0-9_-]{1,40})\.[A-Z]{3}"
)


def _account_id(v: ViolationCollector, field: str, value: str) -> None:
    if not value:
        v.add(field, "required")
    elif not (ids.is_valid(ids.ACCOUNT, value) or _SYSTEM_ACCOUNT.fullmatch(value)):
        v.add(
            field,
            "must be an account id: acct_ and 26 base32 characters, or a system account"
            " such as merchant_available.USD",
        )


def create_account(merchant_id: str, request: account_svc.CreateAccountRequest) -> OpenWallet:
    """CreateAccount -> OpenWallet."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _currency(v, request.currency_code)
    fields.text(v, "customer_id", request.customer_id, fields.MAX_CUSTOMER_ID)
    fields.text(v, "description", request.description, fields.MAX_DESCRIPTION)
    v.raise_if_any()
    return OpenWallet(merchant_id, request.currency_code, request.customer_id, request.description)


def account_id_of(request: account_svc.GetAccountRequest) -> str:
    """GetAccount's account id."""
    v = ViolationCollector()
    _account_id(v, "account_id", request.account_id)
    v.raise_if_any()
    return request.account_id


def _amount_and_description(
    v: ViolationCollector,
    request: account_svc.TransferFundsRequest
    | account_svc.PayFromWalletRequest
    | account_svc.WithdrawFundsRequest,
) -> Money:
    """The request's required positive ``amount`` (its ``description`` checked too)."""
    amount = None
    if not request.HasField("amount"):
        v.add("amount", "required")
    else:
        amount = fields.money(v, "amount", request.amount)
    fields.text(v, "description", request.description, fields.MAX_DESCRIPTION)
    v.raise_if_any()
    assert amount is not None
    return amount


def transfer_funds(merchant_id: str, request: account_svc.TransferFundsRequest) -> TransferFunds:
    """TransferFunds -> TransferFunds command."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _account_id(v, "from_account_id", request.from_account_id)
    _account_id(v, "to_account_id", request.to_account_id)
    if request.from_account_id and request.from_account_id == request.to_account_id:
        v.add("to_account_id", "must differ from from_account_id")
    amount = _amount_and_description(v, request)
    return TransferFunds(
        merchant_id, request.from_account_id, request.to_account_id, amount, request.description
    )


def statement_scope(merchant_id: str, account_id: str) -> str:
    """The page-token scope of one merchant's account's statement (a token of another is
    refused: system accounts such as merchant_available.USD have the same id at every
    merchant)."""
    return f"AccountService.ListAccountEntries:{merchant_id}:{account_id}"


def list_account_entries(
    merchant_id: str, request: account_svc.ListAccountEntriesRequest, token_key: bytes
) -> StatementQuery:
    """ListAccountEntries -> StatementQuery (the cursor is the last entry's sequence number)."""
    v = ViolationCollector()
    _account_id(v, "account_id", request.account_id)
    v.raise_if_any()
    page_size, cursor = cursor_page(
        request.page_size,
        request.page_token,
        token_key,
        statement_scope(merchant_id, request.account_id),
    )
    if cursor and not is_ascii_digits(cursor):  # signed by us, so only a bug gets here
        raise ValidationError(
            [FieldViolation("page_token", "malformed: pass next_page_token unchanged")],
            Reason.INVALID_PAGE_TOKEN,
        )
    return StatementQuery(
        merchant_id, request.account_id, page_size, int(cursor) if cursor else None
    )


def _business_date(v: ViolationCollector, value: str) -> date | None:
    if not value:
        v.add("business_date", "required: a day as YYYY-MM-DD (UTC)")
        return None
    return iso_day(v, "business_date", value, "a day as YYYY-MM-DD (UTC)")


def _currency(v: ViolationCollector, value: str) -> None:
    try:
        currency_exponent(value)
    except CurrencyError as exc:
        v.add("currency_code", str(exc))


def settlement_day(
    merchant_id: str,
    request: account_svc.RunSettlementRequest
    | account_svc.GetSettlementReportRequest
    | account_svc.ExportSettlementReportRequest,
) -> SettlementDay:
    """RunSettlement / GetSettlementReport / ExportSettlementReport -> the day they name."""
    v = ViolationCollector()
    if isinstance(request, account_svc.RunSettlementRequest):
        fields.request_id(v, request.request_id)
    _currency(v, request.currency_code)
    day = _business_date(v, request.business_date)
    v.raise_if_any()
    assert day is not None
    return SettlementDay(merchant_id, request.currency_code, day)


def top_up_wallet(
    merchant_id: str, request: account_svc.TopUpWalletRequest, today: date
) -> tuple[str, CreatePayment]:
    """TopUpWallet -> (wallet id, the CreatePayment it makes), validated like CreatePayment."""
    v = ViolationCollector()
    _account_id(v, "account_id", request.account_id)
    as_payment = svc.CreatePaymentRequest(
        request_id=request.request_id,
        payment_method=request.payment_method,
        risk_context=request.risk_context,
        description=request.description,
    )
    if request.HasField("amount"):
        as_payment.amount.CopyFrom(request.amount)
    if request.payment_method.WhichOneof("kind") == "bank_transfer":
        # A top-up credits the wallet at once; a transfer may take days or never come.
        v.add("payment_method.bank_transfer", "a top-up takes a card or card_token")
    try:
        command = create_payment(merchant_id, as_payment, today)
    except ValidationError as error:
        v.violations.extend(error.violations)
    v.raise_if_any()
    return request.account_id, command


def pay_from_wallet(merchant_id: str, request: account_svc.PayFromWalletRequest) -> WalletPayment:
    """PayFromWallet -> WalletPayment."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _account_id(v, "account_id", request.account_id)
    amount = _amount_and_description(v, request)
    return WalletPayment(merchant_id, request.account_id, amount, request.description)


_BANK_ACCOUNT = re.compile(r"[A-Z0-9]{8,34}")


def withdraw_funds(merchant_id: str, request: account_svc.WithdrawFundsRequest) -> WithdrawFunds:
    """WithdrawFunds -> WithdrawFunds command."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _account_id(v, "account_id", request.account_id)
    if not _BANK_ACCOUNT.fullmatch(request.bank_account):
        v.add("bank_account", "required: an IBAN or account number, 8 to 34 capitals and digits")
    amount = _amount_and_description(v, request)
    return WithdrawFunds(
        merchant_id, request.account_id, amount, request.bank_account, request.description
    )


def withdrawal_id_of(request: account_svc.GetWithdrawalRequest) -> str:
    """GetWithdrawal's withdrawal id."""
    v = ViolationCollector()
    if not ids.is_valid(ids.WITHDRAWAL, request.withdrawal_id):
        v.add("withdrawal_id", "must be a withdrawal id: wd_ followed by 26 base32 characters")
    v.raise_if_any()
    return request.withdrawal_id


def withdrawal_review(
    merchant_id: str,
    request: account_svc.ApproveWithdrawalRequest | account_svc.RejectWithdrawalRequest,
    *,
    approve: bool,
) -> WithdrawalReviewDecision:
    """ApproveWithdrawal / RejectWithdrawal -> the admin's decision."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    if not ids.is_valid(ids.WITHDRAWAL, request.withdrawal_id):
        v.add("withdrawal_id", "must be a withdrawal id: wd_ followed by 26 base32 characters")
    fields.text(v, "note", request.note, fields.MAX_DESCRIPTION)
    v.raise_if_any()
    return WithdrawalReviewDecision(merchant_id, request.withdrawal_id, approve, request.note)


def set_fee_rules(merchant_id: str, request: account_svc.SetFeeRulesRequest) -> SetFeeRules:
    """SetFeeRules -> the merchant's new rules (one per known method, within bounds)."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    seen: set[str] = set()
    for i, rule in enumerate(request.rules):
        field = f"rules[{i}]"
        if rule.method not in FEE_METHODS:
            v.add(f"{field}.method", f"must be one of {', '.join(FEE_METHODS)}")
        elif rule.method in seen:
            v.add(f"{field}.method", "at most one rule per method")
        seen.add(rule.method)
        if not 0 <= rule.bps <= 10_000:
            v.add(f"{field}.bps", "must be 0 to 10000 basis points")
        if not 0 <= rule.fixed_minor <= 1_000_000_00:
            v.add(f"{field}.fixed_minor", "must be 0 to 100000000 minor units")
    v.raise_if_any()
    return SetFeeRules(
        merchant_id,
        tuple(FeeRuleChange(r.method, r.bps, r.fixed_minor) for r in request.rules),
    )
