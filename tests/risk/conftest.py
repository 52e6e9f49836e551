"""Fixtures of the risk suite: a merchant's payments and its admin's RiskService, over gRPC."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
import pytest

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc, risk_service_pb2_grpc
from paycore.v1 import risk_service_pb2 as risk_svc
from tests.support.requests import build, create_request

Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Shop:
    """One merchant: its payments (merchant role) and its risk back office (admin role)."""

    # grpc-stubs types the stubs as synchronous; these are grpc.aio stubs.
    payments: Any
    risk: Any
    metadata: Metadata
    admin: Metadata

    async def pay(self, **fields: Any) -> pb.Payment:
        """CreatePayment with ``create_request(**fields)``."""
        response = await self.payments.CreatePayment(
            create_request(**fields), metadata=self.metadata
        )
        return response.payment

    async def get(self, payment_id: str) -> pb.Payment:
        """GetPayment."""
        request = svc.GetPaymentRequest(payment_id=payment_id)
        return (await self.payments.GetPayment(request, metadata=self.metadata)).payment

    async def score(self, **fields: Any) -> risk_svc.ScoreTransactionResponse:
        """ScoreTransaction (admin)."""
        request = risk_svc.ScoreTransactionRequest(**fields)
        return await self.risk.ScoreTransaction(request, metadata=self.admin)

    async def block(self, kind: int, value: str, *, allow: bool = False) -> risk_svc.BlocklistEntry:
        """AddBlocklistEntry (admin) on the block list, or the allow list."""
        entry = risk_svc.BlocklistEntry
        request = build(
            risk_svc.AddBlocklistEntryRequest,
            list=entry.LIST_ALLOW if allow else entry.LIST_BLOCK,
            kind=kind,
            value=value,
            reason="test",
        )
        return (await self.risk.AddBlocklistEntry(request, metadata=self.admin)).entry

    async def unblock(self, entry_id: str) -> risk_svc.BlocklistEntry:
        """RemoveBlocklistEntry (admin)."""
        request = build(risk_svc.RemoveBlocklistEntryRequest, entry_id=entry_id)
        return (await self.risk.RemoveBlocklistEntry(request, metadata=self.admin)).entry

    async def reviews(self, **fields: Any) -> risk_svc.ListReviewsResponse:
        """One ListReviews page (admin)."""
        request = risk_svc.ListReviewsRequest(**fields)
        return await self.risk.ListReviews(request, metadata=self.admin)


def audit_json(value: Any) -> Any:
    """An audit_events before/after value as Python (stored as JSON text inside jsonb)."""
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(scope="session")
def risk_stub(grpc_channel: grpc.aio.Channel) -> risk_service_pb2_grpc.RiskServiceStub:
    """RiskService stub over the test channel."""
    return risk_service_pb2_grpc.RiskServiceStub(grpc_channel)


@pytest.fixture
def shop(
    stub: payment_service_pb2_grpc.PaymentServiceStub,
    risk_stub: risk_service_pb2_grpc.RiskServiceStub,
    metadata: Metadata,
    admin_metadata: Metadata,
) -> Shop:
    """The test's merchant, with a merchant-role and an admin-role caller."""
    return Shop(stub, risk_stub, metadata, admin_metadata)


@pytest.fixture(scope="session")
async def db(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """Direct access to the server's PostgreSQL, to check what was committed."""

    async def jsonb_as_python(connection: asyncpg.Connection) -> None:
        await connection.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )

    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2, init=jsonb_as_python)
    assert pool is not None
    try:
        yield pool
    finally:
        await pool.close()
