"""Fixtures of the idempotency and rate-limit suite: a paycore server with a Redis of its own.

Each test that calls ``private_stack(**settings_overrides)`` gets an
in-process PaycoreServer on the suite's shared PostgreSQL and on a private
Redis, which the test may flush, stop and start again. The shared Redis is
never flushed or stopped. Everything is torn down after the test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError

from core.config import RateLimitSettings, Settings
from paycore.v1 import payment_service_pb2_grpc
from tests.support.redis_server import start_redis
from tests.support.serving import serve_paycore

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
    # Closed in reverse order of opening: clients, then the server, then Redis.
    async with contextlib.AsyncExitStack() as opened:

        async def start(**overrides: object) -> Stack:
            redis = await asyncio.to_thread(start_redis)
            opened.push_async_callback(asyncio.to_thread, redis.stop)
            paycore = await opened.enter_async_context(
                serve_paycore(
                    settings.replace(
                        **{"rate_limits": GENEROUS, **overrides, "redis_url": redis.url}
                    )
                )
            )
            # The test's own client reconnects after a restart (the server's does what it does).
            admin = aioredis.from_url(
                redis.url,
                decode_responses=True,
                retry=Retry(NoBackoff(), 3),
                retry_on_error=[ConnectionError],
            )
            opened.push_async_callback(admin.aclose)
            assert paycore.settings.postgres_dsn is not None
            db = await asyncpg.create_pool(paycore.settings.postgres_dsn, min_size=1, max_size=4)
            assert db is not None
            opened.push_async_callback(db.close)
            return Stack(
                settings=paycore.settings,
                services=paycore.services,
                server=paycore.server,
                channel=paycore.channel,
                stub=paycore.stub(payment_service_pb2_grpc.PaymentServiceStub),
                redis=redis,
                admin=admin,
                db=db,
            )

        yield start
