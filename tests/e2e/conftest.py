"""Fixtures of the end-to-end suite: one merchant's API, a second merchant, the database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import grpc
import pytest

from core.app import Services
from paycore.v1 import payment_service_pb2_grpc
from tests.support.api import Api
from tests.support.auth import Metadata, merchant_metadata


@pytest.fixture
def api(
    stub: payment_service_pb2_grpc.PaymentServiceStub, merchant_id: str, metadata: Metadata
) -> Api:
    """The test's merchant."""
    return Api(stub, merchant_id, metadata)


@pytest.fixture
async def other_api(stub: payment_service_pb2_grpc.PaymentServiceStub, services: Services) -> Api:
    """A second merchant, for isolation tests."""
    other = f"m_{uuid.uuid4().hex[:16]}"
    return Api(stub, other, await merchant_metadata(services.pool, other))


@pytest.fixture(scope="session")
async def db(postgres_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """Direct access to the server's PostgreSQL, to check what was committed."""
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=4)
    assert pool is not None
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def raw_rpc(
    grpc_channel: grpc.aio.Channel,
) -> Callable[[str], grpc.aio.UnaryUnaryMultiCallable]:
    """A PaymentService method by name, taking and answering raw bytes."""

    def method(name: str) -> grpc.aio.UnaryUnaryMultiCallable:
        return grpc_channel.unary_unary(
            f"/paycore.v1.PaymentService/{name}",
            request_serializer=None,
            response_deserializer=None,
        )

    return method
