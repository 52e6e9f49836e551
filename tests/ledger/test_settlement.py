"""Settlement through the API: a day moves pending to available once, its report and CSV,
who may run it, the daily job, and several workers at once."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import grpc

from core.app import Services
from core.config import Settings
from core.ledger.settlement import SettlementDay
from core.storage.ledger_store import PostgresLedgerStore
from paycore.v1 import account_service_pb2 as acc
from tests.support.api import Api
from tests.support.auth import Metadata
from tests.support.clock import TestClock
from tests.support.expect import expect_error, expect_invalid
from tests.support.requests import cents, usd

from .conftest import available_cents
from .invariants import assert_ledger_consistent
from .settling import CARD_FEE, close_day, run_settlement, settlement_job

if TYPE_CHECKING:
    from .settling import Stub


async def test_run_settlement_moves_pending_to_available_and_reports_it(
    *,
    api: Api,
    accounts_stub: Stub,
    metadata: Metadata,
    admin_metadata: Metadata,
    services: Services,
    settlement_clock: TestClock,
    settings: Settings,
    today: date,
) -> None:
    first = await api.captured()  # 10.00
    second = await api.authorized()
    await api.capture(second.id, usd(6))
    await api.refund(first.id, usd(3))
    close_day(settlement_clock, settings, today)
    report = await run_settlement(accounts_stub, admin_metadata, today)
    assert report.settled
    assert [cents(m) for m in (report.captured, report.refunded, report.fees, report.net)] == [
        1600,
        300,
        106,
        1194,
    ]
    assert {line.payment_id for line in report.lines} == {first.id, second.id}
    assert await available_cents(accounts_stub, metadata, "merchant_available.USD") == 1194
    assert await available_cents(accounts_stub, metadata, "fee_revenue.USD") == 106
    assert await available_cents(accounts_stub, metadata, "merchant_pending.USD") == 0
    await assert_ledger_consistent(services.pool, api.merchant_id)

    again = await run_settlement(accounts_stub, admin_metadata, today)
    assert again == report  # a day settles once
    request = acc.GetSettlementReportRequest(currency_code="USD", business_date=today.isoformat())
    got = await accounts_stub.GetSettlementReport(request, metadata=admin_metadata)
    assert got.report == report
    audited = await services.pool.fetchval(
        "SELECT count(*) FROM audit_events WHERE merchant_id = $1 AND action = 'settlement.run'",
        api.merchant_id,
    )
    assert audited == 2


async def test_the_csv_export_adds_up_to_the_report(
    *,
    api: Api,
    accounts_stub: Stub,
    admin_metadata: Metadata,
    settlement_clock: TestClock,
    settings: Settings,
    today: date,
) -> None:
    await api.captured()
    close_day(settlement_clock, settings, today)
    report = await run_settlement(accounts_stub, admin_metadata, today)
    export = await accounts_stub.ExportSettlementReport(
        acc.ExportSettlementReportRequest(currency_code="USD", business_date=today.isoformat()),
        metadata=admin_metadata,
    )
    assert export.file_name == f"settlement-{api.merchant_id}-USD-{today.isoformat()}.csv"
    rows = list(csv.DictReader(io.StringIO(export.csv)))
    *lines, total = rows
    assert total["transaction_id"] == "TOTAL"
    assert sum(int(r["net_minor"]) for r in lines) == int(total["net_minor"]) == cents(report.net)
    assert sum(int(r["fee_minor"]) for r in lines) == cents(report.fees)
    assert [r["transaction_id"] for r in lines] == [line.transaction_id for line in report.lines]


async def test_settlement_is_for_admins_and_checks_its_input(
    accounts_stub: Stub, metadata: Metadata, admin_metadata: Metadata, today: date
) -> None:
    await expect_error(
        run_settlement(accounts_stub, metadata, today),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    await expect_invalid(
        accounts_stub.RunSettlement(
            acc.RunSettlementRequest(currency_code="usd", business_date="2026-13-01"),
            metadata=admin_metadata,
        ),
        "request_id",
        "currency_code",
        "business_date",
    )
    await expect_error(
        accounts_stub.GetSettlementReport(
            acc.GetSettlementReportRequest(currency_code="USD", business_date="2001-01-01"),
            metadata=admin_metadata,
        ),
        grpc.StatusCode.NOT_FOUND,
        "SETTLEMENT_NOT_FOUND",
    )


async def test_several_workers_settle_a_day_once(api: Api, services: Services, today: date) -> None:
    await api.captured()
    await api.captured()
    store = PostgresLedgerStore(services.pool)
    day = SettlementDay(api.merchant_id, "USD", today)
    now = datetime.now(UTC)
    records = await asyncio.gather(*(store.settle_alone(day, CARD_FEE, now) for _ in range(6)))
    assert len({r.id for r in records}) == 1
    assert {r.figures.net for r in records} == {2 * (1000 - 59)}
    journals = await services.pool.fetchval(
        "SELECT count(*) FROM ledger_transactions WHERE merchant_id = $1 AND kind = 'settlement'",
        api.merchant_id,
    )
    assert journals == 1
    await assert_ledger_consistent(services.pool, api.merchant_id)


async def test_the_daily_job_settles_yesterday(
    api: Api, services: Services, settings: Settings, today: date
) -> None:
    await api.captured()
    clock = TestClock()
    close_day(clock, settings, today)  # tomorrow, once today is over: today is "yesterday"
    job = settlement_job(services, settings, clock)
    assert await job.run_due() >= 1
    record = await PostgresLedgerStore(services.pool).settlement(
        SettlementDay(api.merchant_id, "USD", today)
    )
    assert record is not None and record.settled
    assert record.figures.net == 1000 - 59
    await assert_ledger_consistent(services.pool, api.merchant_id)


async def test_a_negative_day_carries_its_items_to_the_next_settlement(
    *,
    api: Api,
    accounts_stub: Stub,
    admin_metadata: Metadata,
    services: Services,
    settlement_clock: TestClock,
    settings: Settings,
    today: date,
) -> None:
    payment = await api.captured()
    await api.refund(payment.id)
    close_day(settlement_clock, settings, today)
    report = await run_settlement(accounts_stub, admin_metadata, today - timedelta(days=1))
    assert not report.lines  # nothing was written before yesterday's end
    current = await run_settlement(accounts_stub, admin_metadata, today)
    assert (current.settled, cents(current.net), current.journal_transaction_id) == (
        False,
        -59,
        "",
    )
    unsettled = await services.pool.fetchval(
        "SELECT count(*) FROM ledger_transactions WHERE merchant_id = $1"
        " AND kind IN ('capture', 'refund') AND settlement_id = ''",
        api.merchant_id,
    )
    assert unsettled == 2
    await assert_ledger_consistent(services.pool, api.merchant_id)
