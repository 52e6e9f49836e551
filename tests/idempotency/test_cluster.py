"""The idempotency and rate-limit guarantees, end to end, with Redis as a 3-master Cluster.

gRPC -> paycore (redis_cluster = true) -> a real Redis Cluster on loopback
ports, plus the suite's PostgreSQL. The merchant's keys all hash to one slot
(``{<merchant>}``), so the gate's single script runs on one node.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2
from redis.asyncio.cluster import RedisCluster

from core.app import Services
from core.config import RateLimitSettings, Settings
from core.redis.velocity import RedisVelocity
from paycore.v1 import payment_service_pb2_grpc
from tests.support.auth import merchant_metadata
from tests.support.expect import details, error_info, expect_error, retry_delay_s
from tests.support.redis_cluster import RedisClusterHandle
from tests.support.requests import create_request, usd, wire
from tests.support.serving import serve_paycore

from .conftest import GENEROUS

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
ABORTED = grpc.StatusCode.ABORTED


@dataclass
class ClusterStack:
    """A paycore server whose Redis is the cluster."""

    stub: payment_service_pb2_grpc.PaymentServiceAsyncStub
    services: Services
    cluster: RedisCluster
    db: asyncpg.Pool

    async def payments_of(self, merchant_id: str) -> int:
        count: int = await self.db.fetchval(
            "SELECT count(*) FROM payments WHERE merchant_id = $1", merchant_id
        )
        return count

    async def attempts_of(self, merchant_id: str) -> int:
        count: int = await self.db.fetchval(
            "SELECT count(*) FROM channel_attempts WHERE merchant_id = $1", merchant_id
        )
        return count

    async def evalsha_calls(self) -> int:
        """EVALSHA calls summed over every primary of the cluster."""
        stats = await self.cluster.info("commandstats", target_nodes=RedisCluster.PRIMARIES)
        return sum(
            int(node_stats.get("cmdstat_evalsha", {}).get("calls", 0))
            for node_stats in stats.values()
        )


async def _start(
    settings: Settings, cluster: RedisClusterHandle, limits: RateLimitSettings
) -> AsyncIterator[ClusterStack]:
    own = settings.replace(redis_url=cluster.url, redis_cluster=True, rate_limits=limits)
    async with serve_paycore(own) as paycore:
        admin = RedisCluster.from_url(cluster.url, decode_responses=True)
        assert paycore.settings.postgres_dsn is not None
        db = await asyncpg.create_pool(paycore.settings.postgres_dsn, min_size=1, max_size=4)
        assert db is not None
        try:
            yield ClusterStack(
                paycore.stub(payment_service_pb2_grpc.PaymentServiceStub),
                paycore.services,
                admin,
                db,
            )
        finally:
            await db.close()
            await admin.aclose()


@pytest.fixture
async def stack(
    settings: Settings, redis_cluster: RedisClusterHandle
) -> AsyncIterator[ClusterStack]:
    """paycore on the cluster, with generous rate limits."""
    async for started in _start(settings, redis_cluster, GENEROUS):
        yield started


@pytest.fixture
async def limited_stack(
    settings: Settings, redis_cluster: RedisClusterHandle
) -> AsyncIterator[ClusterStack]:
    """paycore on the cluster, a burst of 3 writes, then one every 10 s.

    Slow enough that the burst is still spent when the next request arrives on a
    loaded machine (at 5/s a token came back while four creates ran one by one).
    """
    limits = RateLimitSettings(writes_per_s=0.1, writes_burst=3)
    async for started in _start(settings, redis_cluster, limits):
        yield started


async def _merchant(services: Services) -> tuple[str, tuple[tuple[str, str], ...]]:
    merchant_id = f"mc_{uuid.uuid4().hex[:12]}"
    return merchant_id, await merchant_metadata(services.pool, merchant_id)


async def test_concurrent_identical_creates_on_a_cluster_charge_once(stack: ClusterStack) -> None:
    merchant_id, metadata = await _merchant(stack.services)
    request = create_request()

    async def call() -> bytes | grpc.aio.AioRpcError:
        try:
            return wire(await stack.stub.CreatePayment(request, metadata=metadata))
        except grpc.aio.AioRpcError as error:
            return error

    answers = await asyncio.gather(*(call() for _ in range(100)))

    replies = {answer for answer in answers if isinstance(answer, bytes)}
    refusals = [answer for answer in answers if not isinstance(answer, bytes)]
    assert len(replies) == 1
    for refusal in refusals:
        assert (refusal.code(), error_info(refusal).reason) == (ABORTED, "REQUEST_IN_PROGRESS")
        assert retry_delay_s(refusal)
    assert await stack.payments_of(merchant_id) == 1
    assert await stack.attempts_of(merchant_id) == 1
    again = wire(await stack.stub.CreatePayment(request, metadata=metadata))
    assert {again} == replies


async def test_a_reused_request_id_with_other_parameters_is_refused_on_a_cluster(
    stack: ClusterStack,
) -> None:
    merchant_id, metadata = await _merchant(stack.services)
    request = create_request()
    await stack.stub.CreatePayment(request, metadata=metadata)
    other = create_request(request_id=request.request_id, amount=usd(99))

    await expect_error(
        stack.stub.CreatePayment(other, metadata=metadata),
        INVALID_ARGUMENT,
        "IDEMPOTENCY_KEY_REUSED",
    )

    assert await stack.payments_of(merchant_id) == 1


async def test_flushing_every_node_between_a_call_and_its_retry_still_charges_once(
    stack: ClusterStack,
) -> None:
    merchant_id, metadata = await _merchant(stack.services)
    request = create_request()
    first = wire(await stack.stub.CreatePayment(request, metadata=metadata))

    await stack.cluster.flushall(target_nodes=RedisCluster.PRIMARIES)
    retry = wire(await stack.stub.CreatePayment(request, metadata=metadata))

    assert retry == first
    assert await stack.payments_of(merchant_id) == 1
    assert await stack.attempts_of(merchant_id) == 1


async def test_rate_limits_on_a_cluster_refuse_with_quota_failure_and_retry_info(
    limited_stack: ClusterStack,
) -> None:
    merchant_id, metadata = await _merchant(limited_stack.services)
    for _ in range(3):  # the burst
        await limited_stack.stub.CreatePayment(create_request(), metadata=metadata)

    error = await expect_error(
        limited_stack.stub.CreatePayment(create_request(), metadata=metadata),
        RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
    )

    (quota,) = details(error, error_details_pb2.QuotaFailure)
    assert quota.violations[0].subject == f"merchant:{merchant_id}:writes"
    delay = retry_delay_s(error)
    assert delay is not None and 0 < delay <= 10  # one 10 s interval at most
    other_merchant, other_metadata = await _merchant(limited_stack.services)
    await limited_stack.stub.CreatePayment(create_request(), metadata=other_metadata)
    assert await limited_stack.payments_of(merchant_id) == 3
    assert await limited_stack.payments_of(other_merchant) == 1


async def test_each_create_on_a_cluster_is_one_round_trip_with_velocity_in_it(
    stack: ClusterStack,
) -> None:
    _, metadata = await _merchant(stack.services)
    await stack.stub.CreatePayment(create_request(), metadata=metadata)  # warm: script loaded
    before = await stack.evalsha_calls()
    trips_before = stack.services.gate.stats.redis_round_trips
    store = stack.services.risk_screen.velocity
    assert isinstance(store, RedisVelocity)  # the Redis adapter counts its round trips
    velocity = store.stats
    velocity_before = velocity.round_trips

    for _ in range(20):
        await stack.stub.CreatePayment(create_request(), metadata=metadata)

    # Each create: the gate's script with risk velocity riding in it (one slot).
    assert await stack.evalsha_calls() - before == 20
    assert stack.services.gate.stats.redis_round_trips - trips_before == 20
    assert velocity.round_trips - velocity_before == 0
    assert (velocity.failures, velocity.fail_open) == (0, 0)
    assert stack.services.gate.stats.fail_open_decisions == 0
