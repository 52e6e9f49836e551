"""Settlement: fees, the report and its CSV, the daily job, and several workers at once."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc

from core.app import Services
from core.config import Settings
from core.ledger.fees import FeeRule, FeeSchedule
from core.ledger.journal import TransactionKind
from core.ledger.settlement import (
    SettlementDay,
    SettlementItem,
    compute_settlement,
    day_end,
    settlement_csv_rows,
    settlement_transaction,
)
from core.service.settlement import SettlementService
from core.storage.ledger_store import PostgresLedgerStore
from paycore.v1 import account_service_pb2 as acc
from tests.support.api import Api
from tests.support.auth import Metadata, platform_metadata
from tests.support.clock import TestClock
from tests.support.expect import error_info, expect_error, expect_invalid
from tests.support.requests import cents, new_request_id, usd

from .conftest import available_cents, book_card_item, book_opening_balance
from .invariants import assert_ledger_consistent

if TYPE_CHECKING:
    from paycore.v1 import account_service_pb2_grpc

    Stub = account_service_pb2_grpc.AccountServiceAsyncStub

CARD_FEE = FeeRule(bps=290, fixed_minor=30)
A_DAY = date(2026, 3, 2)  # any day: the pure tests below only label their figures with it


def _grace(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.ledger.settlement_grace_s)


def _close(clock: TestClock, settings: Settings, day: date) -> None:
    """Set the server's clock to the moment ``day`` is over (its end plus the grace)."""
    clock.set(day_end(day) + _grace(settings))


def _item(kind: TransactionKind, amount: int, n: int = 1) -> SettlementItem:
    return SettlementItem(f"pay_{n}:{kind.value}", kind, f"pay_{n}", "card", amount)


def test_fee_is_fixed_plus_basis_points_rounded_half_up() -> None:
    assert CARD_FEE.fee(1000) == 30 + 29
    assert CARD_FEE.fee(600) == 30 + 17  # 17.4
    assert FeeRule(bps=50).fee(100) == 1  # 0.5 rounds up
    assert CARD_FEE.fee(10) == 10  # never more than the capture
    schedule = FeeSchedule(CARD_FEE, {"wallet": FeeRule()})
    assert (schedule.fee("card", 1000), schedule.fee("wallet", 1000)) == (59, 0)


def test_settlement_nets_captures_refunds_and_fees() -> None:
    items = [
        _item(TransactionKind.CAPTURE, 1000, 1),
        _item(TransactionKind.CAPTURE, 600, 2),
        _item(TransactionKind.REFUND, 300, 1),
    ]
    figures = compute_settlement("m1", "USD", A_DAY, items, FeeSchedule(CARD_FEE))
    assert (figures.captured, figures.refunded, figures.fees, figures.net) == (1600, 300, 106, 1194)
    assert sum(line.net for line in figures.lines) == figures.net
    txn = settlement_transaction("stl_1:journal", figures)
    assert {(e.account_id, e.amount) for e in txn.entries} == {
        ("merchant_pending.USD", -1300),
        ("fee_revenue.USD", 106),
        ("merchant_available.USD", 1194),
    }
    rows = settlement_csv_rows(figures)
    assert rows[0][0] == "transaction_id" and rows[-1][0] == "TOTAL"
    assert rows[-1][4:] == ("1300", "106", "1194")


def test_a_negative_day_settles_nothing() -> None:
    items = [_item(TransactionKind.CAPTURE, 1000, 1), _item(TransactionKind.REFUND, 1000, 1)]
    figures = compute_settlement("m1", "USD", A_DAY, items, FeeSchedule(CARD_FEE))
    assert figures.net == -59
    assert not figures.settles


async def _run(stub: Stub, metadata: Metadata, day: date) -> acc.SettlementReport:
    request = acc.RunSettlementRequest(
        request_id=new_request_id(), currency_code="USD", business_date=day.isoformat()
    )
    return (await stub.RunSettlement(request, metadata=metadata)).report


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
    _close(settlement_clock, settings, today)
    report = await _run(accounts_stub, admin_metadata, today)
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

    again = await _run(accounts_stub, admin_metadata, today)
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
    _close(settlement_clock, settings, today)
    report = await _run(accounts_stub, admin_metadata, today)
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
        _run(accounts_stub, metadata, today), grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"
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


async def _set_fees(stub: Stub, metadata: Metadata, *rules: acc.FeeRule, **fields: Any) -> Any:
    fields.setdefault("request_id", new_request_id())
    return await stub.SetFeeRules(acc.SetFeeRulesRequest(rules=rules, **fields), metadata=metadata)


async def test_the_platform_sets_a_merchants_fee_rules_and_settlement_charges_them(
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
    superadmin_metadata = await platform_metadata(services.pool, api.merchant_id)
    card, wallet = acc.FeeRule(method="card", bps=100, fixed_minor=5), acc.FeeRule(method="wallet")
    await expect_error(
        _set_fees(accounts_stub, admin_metadata, card),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    request_id = new_request_id()
    set_rules = await _set_fees(
        accounts_stub, superadmin_metadata, card, wallet, request_id=request_id
    )
    assert list(set_rules.rules) == [card, wallet]
    replay = await _set_fees(
        accounts_stub, superadmin_metadata, card, wallet, request_id=request_id
    )
    assert replay == set_rules
    got = await accounts_stub.GetFeeRules(acc.GetFeeRulesRequest(), metadata=admin_metadata)
    assert (list(got.rules), got.default_rule) == (
        [card, wallet],
        acc.FeeRule(bps=290, fixed_minor=30),
    )
    audit = await services.pool.fetchrow(
        "SELECT before, after FROM audit_events"
        " WHERE merchant_id = $1 AND action = 'fee_rules.set'",
        api.merchant_id,
    )
    assert audit is not None
    assert (audit["before"], audit["after"]) == (
        {},
        {"card": {"bps": 100, "fixed_minor": 5}, "wallet": {"bps": 0, "fixed_minor": 0}},
    )

    # A card payment of 10.00 (fee 1 % + 0.05 = 0.15) and a wallet payment of 4.00 (no fee).
    await api.captured()
    created = await accounts_stub.CreateAccount(
        acc.CreateAccountRequest(request_id=new_request_id(), currency_code="USD"),
        metadata=metadata,
    )
    await book_opening_balance(services.pool, api.merchant_id, created.account.id, 500)
    await accounts_stub.PayFromWallet(
        acc.PayFromWalletRequest(
            request_id=new_request_id(), account_id=created.account.id, amount=usd(4)
        ),
        metadata=metadata,
    )
    _close(settlement_clock, settings, today)
    report = await _run(accounts_stub, admin_metadata, today)
    assert sorted((line.method, cents(line.fee)) for line in report.lines) == [
        ("card", 15),
        ("wallet", 0),
    ]
    # The report against the ledger: its captures are the captures posted to
    # merchant_pending, its net is what reached merchant_available, its fees
    # what fee_revenue holds.
    posted = await services.pool.fetch(
        """
        SELECT t.id, e.amount FROM ledger_transactions t JOIN ledger_entries e
          ON e.merchant_id = t.merchant_id AND e.transaction_id = t.id
        WHERE t.merchant_id = $1 AND t.kind = 'capture' AND e.account_id = 'merchant_pending.USD'
        """,
        api.merchant_id,
    )
    assert {(r["id"], r["amount"]) for r in posted} == {
        (line.transaction_id, cents(line.amount)) for line in report.lines
    }
    assert cents(report.captured) == sum(r["amount"] for r in posted) == 1400
    assert (
        await available_cents(accounts_stub, metadata, "merchant_available.USD")
        == cents(report.net)
        == 1400 - 15
    )
    assert await available_cents(accounts_stub, metadata, "fee_revenue.USD") == cents(report.fees)
    await assert_ledger_consistent(services.pool, api.merchant_id)


async def test_fee_rules_are_checked_and_a_bad_request_changes_nothing(
    api: Api, accounts_stub: Stub, superadmin_metadata: Metadata, services: Services
) -> None:
    await expect_invalid(
        _set_fees(
            accounts_stub,
            superadmin_metadata,
            acc.FeeRule(method="crypto"),
            acc.FeeRule(method="card", bps=10_001),
            acc.FeeRule(method="card", fixed_minor=-1),
            request_id="",
        ),
        "request_id",
        "rules[0].method",
        "rules[1].bps",
        "rules[2].method",
        "rules[2].fixed_minor",
    )
    kept = await services.pool.fetchval(
        "SELECT count(*) FROM ledger_fee_rules WHERE merchant_id = $1", api.merchant_id
    )
    assert kept == 0


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


def _job(services: Services, settings: Settings, clock: TestClock) -> SettlementService:
    return SettlementService(
        executor=services.executor,
        store=PostgresLedgerStore(services.pool),
        gate=services.gate,
        default_fee=CARD_FEE,
        grace=_grace(settings),
        clock=clock,
    )


async def test_the_daily_job_settles_yesterday(
    api: Api, services: Services, settings: Settings, today: date
) -> None:
    await api.captured()
    clock = TestClock()
    _close(clock, settings, today)  # tomorrow, once today is over: today is "yesterday"
    job = _job(services, settings, clock)
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
    _close(settlement_clock, settings, today)
    report = await _run(accounts_stub, admin_metadata, today - timedelta(days=1))
    assert not report.lines  # nothing was written before yesterday's end
    current = await _run(accounts_stub, admin_metadata, today)
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


# --- only a closed business day is settled, and every item in its own day's report ---------


async def _settlement_rows(services: Services, merchant_id: str) -> int:
    count: int = await services.pool.fetchval(
        "SELECT count(*) FROM ledger_settlements WHERE merchant_id = $1", merchant_id
    )
    return count


async def test_an_open_or_future_business_day_cannot_be_settled_and_nothing_moves(
    *,
    api: Api,
    accounts_stub: Stub,
    metadata: Metadata,
    admin_metadata: Metadata,
    services: Services,
    settlement_clock: TestClock,
    today: date,
) -> None:
    settlement_clock.reset()  # real time: today is not over
    await api.captured()
    pending = await available_cents(accounts_stub, metadata, "merchant_pending.USD")

    for day in (today, today + timedelta(days=1), date(today.year + 4, 1, 1)):
        await expect_error(
            _run(accounts_stub, admin_metadata, day),
            grpc.StatusCode.FAILED_PRECONDITION,
            "BUSINESS_DAY_NOT_CLOSED",
        )

    assert await _settlement_rows(services, api.merchant_id) == 0
    assert await available_cents(accounts_stub, metadata, "merchant_pending.USD") == pending
    await expect_error(
        available_cents(accounts_stub, metadata, "merchant_available.USD"),
        grpc.StatusCode.NOT_FOUND,
        "ACCOUNT_NOT_FOUND",
    )  # nothing was ever made available
    audited = await services.pool.fetchval(
        "SELECT count(*) FROM audit_events WHERE merchant_id = $1 AND action = 'settlement.run'",
        api.merchant_id,
    )
    assert audited == 0


async def test_a_day_closes_once_its_cut_off_grace_has_passed_and_the_same_request_then_runs(
    *,
    api: Api,
    accounts_stub: Stub,
    admin_metadata: Metadata,
    settlement_clock: TestClock,
    settings: Settings,
    today: date,
) -> None:
    payment = await api.captured()
    closes = day_end(today) + _grace(settings)
    request = acc.RunSettlementRequest(
        request_id=new_request_id(), currency_code="USD", business_date=today.isoformat()
    )
    settlement_clock.set(closes - timedelta(microseconds=1))

    error = await expect_error(
        accounts_stub.RunSettlement(request, metadata=admin_metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
        "BUSINESS_DAY_NOT_CLOSED",
    )
    info = error_info(error).metadata
    assert (info["business_date"], info["settleable_from"]) == (
        today.isoformat(),
        closes.isoformat(),
    )

    settlement_clock.set(closes)
    report = (await accounts_stub.RunSettlement(request, metadata=admin_metadata)).report
    assert report.settled
    assert [line.payment_id for line in report.lines] == [payment.id]


async def test_every_capture_and_refund_lands_in_its_own_days_report_whatever_the_order(
    api: Api, accounts_stub: Stub, admin_metadata: Metadata, services: Services
) -> None:
    first, second, third = date(2021, 3, 1), date(2021, 3, 2), date(2021, 3, 3)
    tick = timedelta(microseconds=1)
    capture, refund = TransactionKind.CAPTURE, TransactionKind.REFUND
    pool, merchant = services.pool, api.merchant_id

    async def book(kind: TransactionKind, amount: int, at: datetime, payment_id: str) -> str:
        return await book_card_item(pool, merchant, kind, amount, at=at, payment_id=payment_id)

    expected = {
        first: {await book(capture, 1000, day_end(first) - tick, "p1")},  # its last instant
        second: {
            await book(capture, 2000, day_end(first), "p2"),  # its first instant
            await book(refund, 500, day_end(first) + timedelta(hours=12), "p2"),
            await book(capture, 700, day_end(second) - tick, "p3"),
        },
        third: {await book(capture, 400, day_end(second), "p4")},
    }

    # The middle day first: it must not take the first day's capture with it.
    reports = {
        day: await _run(accounts_stub, admin_metadata, day) for day in (second, first, third)
    }

    for day, report in reports.items():
        assert report.settled, day
        assert {line.transaction_id for line in report.lines} == expected[day], day
    assert [cents(reports[second].captured), cents(reports[second].refunded)] == [2700, 500]
    unsettled = await pool.fetchval(
        "SELECT count(*) FROM ledger_transactions WHERE merchant_id = $1"
        " AND kind IN ('capture', 'refund') AND settlement_id = ''",
        merchant,
    )
    assert unsettled == 0


async def test_a_negative_days_items_are_settled_by_the_next_settlement_with_their_day_noted(
    api: Api, accounts_stub: Stub, admin_metadata: Metadata, services: Services
) -> None:
    negative, next_day = date(2021, 4, 1), date(2021, 4, 2)
    pool, merchant = services.pool, api.merchant_id
    capture, refund = TransactionKind.CAPTURE, TransactionKind.REFUND
    at = day_end(negative) - timedelta(hours=12)
    await book_card_item(pool, merchant, capture, 1000, at=at, payment_id="p1")
    await book_card_item(pool, merchant, refund, 1000, at=at, payment_id="p1")
    at = day_end(next_day) - timedelta(hours=12)
    await book_card_item(pool, merchant, capture, 2000, at=at, payment_id="p2")

    first = await _run(accounts_stub, admin_metadata, negative)
    second = await _run(accounts_stub, admin_metadata, next_day)

    assert (first.settled, cents(first.net)) == (False, -59)
    assert second.settled
    assert (cents(second.captured), cents(second.refunded)) == (3000, 1000)
    await assert_ledger_consistent(pool, merchant)


async def test_the_job_settles_each_closed_day_into_its_own_report_once_its_grace_is_over(
    api: Api, services: Services, settings: Settings
) -> None:
    first, second = date(2021, 5, 1), date(2021, 5, 2)
    pool, merchant = services.pool, api.merchant_id
    capture, noon = TransactionKind.CAPTURE, timedelta(hours=12)
    one = await book_card_item(
        pool, merchant, capture, 1000, at=day_end(first) - noon, payment_id="p1"
    )
    two = await book_card_item(
        pool, merchant, capture, 2000, at=day_end(second) - noon, payment_id="p2"
    )
    clock = TestClock()
    job = _job(services, settings, clock)
    store = PostgresLedgerStore(pool)

    clock.set(day_end(second) + _grace(settings) - timedelta(seconds=1))  # the second is open
    await job.run_due()
    settled_first = await store.settlement(SettlementDay(merchant, "USD", first))
    assert settled_first is not None
    assert [line.item.transaction_id for line in settled_first.figures.lines] == [one]
    assert await store.settlement(SettlementDay(merchant, "USD", second)) is None

    clock.set(day_end(second) + _grace(settings))
    await job.run_due()
    settled_second = await store.settlement(SettlementDay(merchant, "USD", second))
    assert settled_second is not None
    assert [line.item.transaction_id for line in settled_second.figures.lines] == [two]
