"""Withdrawals end to end: the bank (its test mode) answers each payout by itself.

A server of its own whose bank answers after 50 ms: a withdrawal of 30.00 is
paid out (the hold posted: the money left), one of 10.99 is refused (the hold
released: the money is back), both without anyone calling complete_withdrawal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from core.api.server import PaycoreServer
from core.app import Services, open_services
from core.config import LedgerSettings, Settings
from core.service.payouts import bank_accepts
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc
from tests.e2e.helpers import new_request_id, usd
from tests.events.helpers import eventually
from tests.support.auth import merchant_metadata

from .conftest import book_opening_balance
from .invariants import assert_ledger_consistent

AVAILABLE = "merchant_available.USD"
W = acc.Withdrawal


@pytest.fixture
async def banked(settings: Settings) -> AsyncIterator[tuple[Any, Services]]:
    """A server whose bank answers payouts after 50 ms."""
    own = settings.replace(ledger=LedgerSettings(payout_settle_after_s=0.05))
    services = await open_services(own)
    server = PaycoreServer(own, services)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield account_service_pb2_grpc.AccountServiceStub(channel), services
    finally:
        await server.stop(grace=0.5)
        await services.close()


def _cents(money: Any) -> int:
    return int(money.units) * 100 + int(money.nanos) // 10_000_000


async def test_the_bank_pays_out_or_refuses_and_the_ledger_follows(
    banked: tuple[Any, Services], merchant_id: str
) -> None:
    stub, services = banked
    metadata = await merchant_metadata(services.pool, merchant_id)
    await book_opening_balance(services.pool, merchant_id, AVAILABLE, 10_000)

    async def withdraw(units: int, cents: int = 0) -> Any:
        request = acc.WithdrawFundsRequest(
            request_id=new_request_id(),
            account_id=AVAILABLE,
            amount=usd(units, cents),
            bank_account="DE89370400440532013000",
        )
        return (await stub.WithdrawFunds(request, metadata=metadata)).withdrawal

    paid, refused = await withdraw(30), await withdraw(10, 99)
    assert paid.state == refused.state == W.STATE_PENDING

    async def states() -> tuple[int, int]:
        got = []
        for made in (paid, refused):
            request = acc.GetWithdrawalRequest(withdrawal_id=made.id)
            got.append((await stub.GetWithdrawal(request, metadata=metadata)).withdrawal.state)
        return got[0], got[1]

    async def settled() -> bool:
        return W.STATE_PENDING not in await states()

    await eventually(settled, what="the bank's answers")
    assert await states() == (W.STATE_SUCCEEDED, W.STATE_FAILED)
    balance = (
        await stub.GetAccount(acc.GetAccountRequest(account_id=AVAILABLE), metadata=metadata)
    ).account.balance
    assert _cents(balance.available) == 10_000 - 3_000  # the refused 10.99 came back
    assert _cents(balance.pending_debits) == 0
    await assert_ledger_consistent(services.pool, merchant_id)


def test_the_simulated_bank_refuses_amounts_ending_in_99_cents() -> None:
    def of(cents: int) -> Any:
        return type("W", (), {"amount": type("M", (), {"amount": cents})()})()

    assert [bank_accepts(of(c)) for c in (3000, 1099, 99, 100)] == [True, False, False, True]
