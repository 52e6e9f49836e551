"""The AccountService's settlement RPCs: fee rules, settlement runs and their reports.

Served in the AccountService table (``core.api.account_handlers``) through
the pipeline every service shares (``core.api.pipeline``). Validation is in
``core.api.requests.accounts``.
"""

from __future__ import annotations

import csv
import io

from google.type import money_pb2

from core.api.identity import Caller
from core.api.ledger_convert import ENTRY_KIND, signed_money
from core.api.requests import accounts as validation
from core.api.requests.fingerprint import request_identity
from core.api.status import encode_error
from core.ledger.fees import FeeSchedule
from core.ledger.records import SettlementRecord
from core.ledger.settlement import settlement_csv_rows
from core.service.execution import Encoder, Reply
from core.service.settlement import SettlementService
from core.wire import convert
from paycore.v1 import account_service_pb2 as account_svc


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
        disputed=money(figures.disputed),
        settled=record.settled,
        journal_transaction_id=record.journal_id,
        lines=[
            account_svc.SettlementLine(
                transaction_id=line.item.transaction_id,
                kind=ENTRY_KIND[line.item.kind],
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


class SettlementHandlers:
    """One method per settlement RPC: validate, call the service, convert the answer."""

    def __init__(self, settlement: SettlementService, secret: bytes) -> None:
        self._settlement = settlement
        self._secret = secret  # keys request fingerprints

    async def set_fee_rules(self, caller: Caller, request: account_svc.SetFeeRulesRequest) -> Reply:
        command = validation.set_fee_rules(caller.merchant_id, request)
        return await self._settlement.set_fee_rules(
            command, caller.actor, request_identity(request, self._secret), _SET_FEE_RULES
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
            day, caller.actor, request_identity(request, self._secret), _RUN_SETTLEMENT
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
