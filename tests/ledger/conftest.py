"""Fixtures of the ledger tests: the AccountService stub, opening balances, the invariants."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest

from core.app import Services
from core.ledger.journal import TransactionKind, transfer
from core.storage import ledger
from paycore.v1 import account_service_pb2_grpc, payment_service_pb2_grpc
from tests.e2e.helpers import Api
from tests.support.auth import Metadata


@pytest.fixture(scope="session")
def accounts_stub(
    grpc_channel: grpc.aio.Channel,
) -> account_service_pb2_grpc.AccountServiceAsyncStub:
    """AccountService stub over the test channel."""
    return account_service_pb2_grpc.AccountServiceStub(grpc_channel)


@pytest.fixture
def api(
    stub: payment_service_pb2_grpc.PaymentServiceStub, merchant_id: str, metadata: Metadata
) -> Api:
    """The test's merchant's PaymentService."""
    return Api(stub, merchant_id, metadata)


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


@pytest.fixture
def db(services: Services) -> asyncpg.Pool:
    """The server's own pool, to check what was committed."""
    return services.pool
