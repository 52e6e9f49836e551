"""PostgreSQL, Redis and the request gate on it: opened first, closed last (``Services.close``)."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from core.config import Settings
from core.redis.request_gate import RedisClient, RedisRequestGate
from core.storage.pool import PaycorePool, create_pool
from core.telemetry import Telemetry
from router import Router
from router.health import BreakerState


async def open_pool(settings: Settings) -> PaycorePool:
    """The PostgreSQL pool (``settings.postgres_dsn`` resolved; PostgreSQL must be reachable)."""
    assert settings.postgres_dsn is not None
    return await create_pool(
        settings.postgres_dsn,
        settings.pg_pool_min,
        settings.pg_pool_max,
        acquire_timeout_s=settings.pg_acquire_timeout_s,
        refuse_nested=settings.pg_refuse_nested_acquire,
    )


def connect_redis(settings: Settings) -> RedisClient:
    """A Redis client (or Redis Cluster client) with timeouts short enough to fail open."""
    assert settings.redis_url is not None
    timeouts = {
        "socket_timeout": settings.redis_timeout_s,
        "socket_connect_timeout": settings.redis_timeout_s,
    }
    if settings.redis_cluster:
        # One retry at most: the gate fails open instead, so a hung cluster
        # should cost about one timeout, not a round of reinitialisations.
        return RedisCluster.from_url(settings.redis_url, retry=Retry(NoBackoff(), 1), **timeouts)
    return aioredis.from_url(settings.redis_url, **timeouts)


async def open_gate(
    settings: Settings, redis: RedisClient, telemetry: Telemetry
) -> RedisRequestGate:
    """The request gate (rate limits, request_id markers) on ``redis``, its scripts loaded.

    Redis need not be up: the gate fails open until it is. Risk velocity later
    loads the gate's script again with its own riding along (core/app/_risk.py).
    """
    gate = RedisRequestGate(
        redis,
        settings.rate_limits,
        marker_ttl_s=settings.request_lease_s,
        retry_interval_s=settings.redis_retry_interval_s,
        telemetry=telemetry,
    )
    await gate.prepare()
    return gate


def observe_gauges(
    telemetry: Telemetry, pool: asyncpg.Pool, redis: RedisClient, router: Router
) -> None:
    """Export the gauges sampled at each collection: pools and circuit breakers."""
    telemetry.observe_pool(
        "postgresql",
        lambda: (pool.get_size() - pool.get_idle_size(), pool.get_idle_size(), pool.get_max_size()),
    )
    telemetry.observe_pool("redis", lambda: _redis_pool_sample(redis))
    telemetry.observe_breakers([state.value for state in BreakerState], router.breaker_states)


def _redis_pool_sample(client: RedisClient) -> tuple[int, int, int]:
    """(in use, idle, max) connections of a single-node client's pool (cluster: not sampled)."""
    pool = getattr(client, "connection_pool", None)
    if pool is None:
        return 0, 0, 0
    # redis-py exposes these only as private attributes; read them defensively.
    in_use = len(getattr(pool, "_in_use_connections", ()))
    idle = len(getattr(pool, "_available_connections", ()))
    return in_use, idle, int(getattr(pool, "max_connections", 0) or 0)
