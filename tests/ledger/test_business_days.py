"""Only a closed business day is settled (its end plus the grace), and every capture and refund
in its own day's report, whatever order the days are settled in."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import grpc

from core.app import Services
from core.config import Settings
from core.ledger.journal import TransactionKind
from core.ledger.settlement import SettlementDay, day_end
from core.storage.ledger_store import PostgresLedgerStore
from paycore.v1 import account_service_pb2 as acc
from tests.support.api import Api
from tests.support.auth import Metadata
from tests.support.clock import TestClock
from tests.support.expect import error_info, expect_error
from tests.support.requests import cents, new_request_id

from .conftest import available_cents, book_card_item
from .invariants import assert_ledger_consistent
from .settling import run_settlement, settlement_grace, settlement_job

if TYPE_CHECKING:
    from .settling import Stub


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
            run_settlement(accounts_stub, admin_metadata, day),
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
    closes = day_end(today) + settlement_grace(settings)
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
        day: await run_settlement(accounts_stub, admin_metadata, day)
        for day in (second, first, third)
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

    first = await run_settlement(accounts_stub, admin_metadata, negative)
    second = await run_settlement(accounts_stub, admin_metadata, next_day)

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
    job = settlement_job(services, settings, clock)
    store = PostgresLedgerStore(pool)

    clock.set(
        day_end(second) + settlement_grace(settings) - timedelta(seconds=1)
    )  # the second is open
    await job.run_due()
    settled_first = await store.settlement(SettlementDay(merchant, "USD", first))
    assert settled_first is not None
    assert [line.item.transaction_id for line in settled_first.figures.lines] == [one]
    assert await store.settlement(SettlementDay(merchant, "USD", second)) is None

    clock.set(day_end(second) + settlement_grace(settings))
    await job.run_due()
    settled_second = await store.settlement(SettlementDay(merchant, "USD", second))
    assert settled_second is not None
    assert [line.item.transaction_id for line in settled_second.figures.lines] == [two]
