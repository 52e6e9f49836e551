"""Fixtures of the request gate suites: the gate on a single Redis and on a real Redis Cluster.

Gate tests isolate themselves by merchant (the ``merchant_id`` fixture, or
``new_merchant_id()`` of tests/support/requests.py): every key the gate writes carries
the merchant, so nothing is ever flushed from the shared Redis.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import NamedTuple, Protocol

import pytest

from core.app import connect_redis
from core.config import RateLimitSettings, Settings
from core.redis.request_gate import RedisClient, RedisRequestGate
from tests.support.redis_cluster import RedisClusterHandle
from tests.support.redis_server import RedisServerHandle, start_redis


class GateBackend(NamedTuple):
    """Where a gate's Redis is: the two settings ``connect_redis`` reads."""

    url: str
    cluster: bool

    def settings(self) -> Settings:
        """Default Settings naming this Redis."""
        return Settings(redis_url=self.url, redis_cluster=self.cluster)


class MakeGate(Protocol):
    """The ``make_gate`` factory: a prepared RedisRequestGate on ``backend``."""

    async def __call__(
        self,
        backend: GateBackend,
        *,
        limits: RateLimitSettings = ...,
        marker_ttl_s: float = ...,
        retry_interval_s: float = ...,
        log_interval_s: float = ...,
        monotonic: Callable[[], float] = ...,
    ) -> RedisRequestGate: ...


@pytest.fixture
def private_redis() -> Iterator[RedisServerHandle]:
    """A Redis of the test's own, to stop, restart or read server statistics of."""
    with start_redis() as server:
        yield server


@pytest.fixture(params=["single", "cluster"])
def gate_backend(request: pytest.FixtureRequest) -> GateBackend:
    """Each gate test runs on the suite's Redis and on the Redis Cluster."""
    if request.param == "cluster":
        cluster: RedisClusterHandle = request.getfixturevalue("redis_cluster")
        return GateBackend(cluster.url, cluster=True)
    return GateBackend(request.getfixturevalue("redis_url"), cluster=False)


@pytest.fixture
async def make_gate() -> AsyncIterator[MakeGate]:
    """Build gates as paycore does (``connect_redis``, then ``prepare()``); closed at teardown."""
    clients: list[RedisClient] = []

    async def make(
        backend: GateBackend,
        *,
        limits: RateLimitSettings = RateLimitSettings(),  # noqa: B008 (frozen)
        marker_ttl_s: float = 60.0,
        retry_interval_s: float = 1.0,
        log_interval_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> RedisRequestGate:
        client = connect_redis(backend.settings())
        clients.append(client)
        gate = RedisRequestGate(
            client,
            limits,
            marker_ttl_s=marker_ttl_s,
            retry_interval_s=retry_interval_s,
            log_interval_s=log_interval_s,
            monotonic=monotonic,
        )
        await gate.prepare()
        return gate

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def gate(gate_backend: GateBackend, make_gate: MakeGate) -> RedisRequestGate:
    """A gate with paycore's default limits, on each backend."""
    return await make_gate(gate_backend)
