"""Fixtures of the ledger tests: the AccountService stub, opening balances, the invariants."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import grpc
import pytest

from core.app import Services
from core.ledger.journal import TransactionKind, transfer
from core.ledger.settlement import day_end, day_of
from core.storage import ledger
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc
from tests.support.auth import Metadata
from tests.support.clock import TestClock
from tests.support.requests import cents


@pytest.fixture(scope="session")
def accounts_stub(
    grpc_channel: grpc.aio.Channel,
) -> account_service_pb2_grpc.AccountServiceAsyncStub:
    """AccountService stub over the test channel."""
    return account_service_pb2_grpc.AccountServiceStub(grpc_channel)


async def book_opening_balance(
    pool: asyncpg.Pool, merchant_id: str, account_id: str, amount: int, currency: str = "USD"
) -> None:
    """Credit ``account_id`` with ``amount`` from a test clearing account (an adjustment).

    Top-ups through a channel are not built yet; this books money the way an
    operator's adjustment would, through the same ``post`` as everything else.
    """
    txn = transfer(
        f"adj_{uuid.uuid4().hex}",
        merchant_id,
        TransactionKind.ADJUSTMENT,
        debit=f"clearing.test.{currency}",
        credit=account_id,
        amount=amount,
        currency=currency,
        description="opening balance",
    )
    async with pool.acquire() as connection, connection.transaction():
        await ledger.post(connection, txn, datetime.now(UTC))


async def available_cents(
    stub: account_service_pb2_grpc.AccountServiceAsyncStub, metadata: Metadata, account_id: str
) -> int:
    """The available balance of ``account_id`` in cents (GetAccount)."""
    request = acc.GetAccountRequest(account_id=account_id)
    return cents((await stub.GetAccount(request, metadata=metadata)).account.balance.available)


# Longer than any one settlement test runs: its payments and its business day must agree.
_MIDNIGHT_MARGIN = timedelta(minutes=2)


@pytest.fixture
async def today() -> date:
    """The business day this test's payments are written on, never one about to end.

    The server stamps a payment's ledger items with real time, and a test that
    settles "today" expects them in that day. Near the settlement day's end the
    fixture waits for the next day to begin, so a run that crosses midnight
    (CI did, once) does not write the payments on one day and settle another.
    """
    now = datetime.now(UTC)
    left = day_end(day_of(now)) - now
    if left < _MIDNIGHT_MARGIN:
        await asyncio.sleep(left.total_seconds() + 1)
    return day_of(datetime.now(UTC))


@pytest.fixture
def db(services: Services) -> asyncpg.Pool:
    """The server's own pool, to check what was committed."""
    return services.pool


@pytest.fixture
def settlement_clock(clock: TestClock) -> Iterator[TestClock]:
    """The test server's clock, for this test to set; real time again afterwards."""
    try:
        yield clock
    finally:
        clock.reset()


async def book_card_item(
    pool: asyncpg.Pool,
    merchant_id: str,
    kind: TransactionKind,
    amount: int,
    *,
    at: datetime,
    payment_id: str,
    currency: str = "USD",
) -> str:
    """Post a card capture or refund on the merchant's pending balance, stamped ``at``.

    The ledger's side of a capture (or refund) without its payment: what
    settlement counts, written at a time of the test's choosing.
    """
    pending, clearing = f"merchant_pending.{currency}", f"clearing.test.{currency}"
    capture = kind is TransactionKind.CAPTURE
    txn = transfer(
        f"{payment_id}:{kind.value}:{uuid.uuid4().hex[:8]}",
        merchant_id,
        kind,
        debit=clearing if capture else pending,
        credit=pending if capture else clearing,
        amount=amount,
        currency=currency,
        reference=payment_id,
        method="card",
        description=f"test {kind.value}",
    )
    async with pool.acquire() as connection, connection.transaction():
        await ledger.post(connection, txn, at)
    return txn.id
