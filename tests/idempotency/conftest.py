"""Fixtures of the idempotency and rate-limit suite: a paycore server with a Redis of its own.

Each test that calls ``private_stack(**settings_overrides)`` gets an
in-process PaycoreServer on the suite's shared PostgreSQL and on a private
Redis, which the test may flush, stop and start again. The shared Redis is
never flushed or stopped. Everything is torn down after the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError

from core.api.server import PaycoreServer
from core.app import open_services
from core.config import RateLimitSettings, Settings
from paycore.v1 import payment_service_pb2_grpc
from tests.support.redis_cluster import start_redis

from .stack import Stack

GENEROUS = RateLimitSettings(
    writes_per_s=1_000_000, writes_burst=100_000, reads_per_s=1_000_000, reads_burst=100_000
)

StartStack = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def private_stack(settings: Settings) -> AsyncIterator[StartStack]:
    """Start a paycore server on the shared PostgreSQL and a private Redis.

    Keyword arguments override Settings fields; rate limits are generous
    unless ``rate_limits`` is given.
    """
    closers: list[Callable[[], Awaitable[object]]] = []

    async def start(**overrides: object) -> Stack:
        redis = await asyncio.to_thread(start_redis)
        closers.append(lambda: asyncio.to_thread(redis.stop))
        own = settings.replace(**{"rate_limits": GENEROUS, **overrides, "redis_url": redis.url})
        services = await open_services(own)
        closers.append(services.close)
        server = PaycoreServer(own, services)
        await server.start()
        closers.append(lambda: server.stop(grace=0.5))
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        closers.append(lambda: channel.close(grace=None))
        # The test's own client reconnects after a restart (the server's does what it does).
        admin = aioredis.from_url(
            redis.url,
            decode_responses=True,
            retry=Retry(NoBackoff(), 3),
            retry_on_error=[ConnectionError],
        )
        closers.append(admin.aclose)
        assert own.postgres_dsn is not None
        db = await asyncpg.create_pool(own.postgres_dsn, min_size=1, max_size=4)
        assert db is not None
        closers.append(db.close)
        return Stack(
            settings=own,
            services=services,
            server=server,
            channel=channel,
            stub=payment_service_pb2_grpc.PaymentServiceStub(channel),
            redis=redis,
            admin=admin,
            db=db,
        )

    try:
        yield start
    finally:
        for close in reversed(closers):
            await close()
