"""Helpers of the settlement tests: the default card fee, closing a day, running settlement."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from core.app import Services
from core.config import Settings
from core.ledger.fees import FeeRule
from core.ledger.settlement import day_end
from core.service.settlement import SettlementService
from core.storage.ledger_store import PostgresLedgerStore
from paycore.v1 import account_service_pb2 as acc
from tests.support.auth import Metadata
from tests.support.clock import TestClock
from tests.support.requests import new_request_id

if TYPE_CHECKING:
    from paycore.v1 import account_service_pb2_grpc

    Stub = account_service_pb2_grpc.AccountServiceAsyncStub

CARD_FEE = FeeRule(bps=290, fixed_minor=30)


def settlement_grace(settings: Settings) -> timedelta:
    """How long after a business day's end it may be settled."""
    return timedelta(seconds=settings.ledger.settlement_grace_s)


def close_day(clock: TestClock, settings: Settings, day: date) -> None:
    """Set the server's clock to the moment ``day`` is over (its end plus the grace)."""
    clock.set(day_end(day) + settlement_grace(settings))


async def run_settlement(stub: Stub, metadata: Metadata, day: date) -> acc.SettlementReport:
    """Run settlement of ``day`` in USD through the API (RunSettlement); its report."""
    request = acc.RunSettlementRequest(
        request_id=new_request_id(), currency_code="USD", business_date=day.isoformat()
    )
    return (await stub.RunSettlement(request, metadata=metadata)).report


def settlement_job(services: Services, settings: Settings, clock: TestClock) -> SettlementService:
    """The daily settlement job over the test server's pool, on ``clock``."""
    return SettlementService(
        executor=services.executor,
        store=PostgresLedgerStore(services.pool),
        gate=services.gate,
        default_fee=CARD_FEE,
        grace=settlement_grace(settings),
        clock=clock,
    )
