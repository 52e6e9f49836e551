"""The composition root: opens PostgreSQL and Redis and assembles the payment service."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

from core.config import Settings
from core.service.payments import PaymentService, ServiceSettings
from core.storage.postgres import PostgresPaymentRepository, create_pool
from riskengine import RiskEngine
from router import Router
from router.channels.sandbox import SandboxCardChannel

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Services:
    """Everything a server process holds open; ``close()`` releases it."""

    pool: asyncpg.Pool
    redis: aioredis.Redis
    payments: PaymentService

    async def close(self) -> None:
        """Close the connection pools (after in-flight work has drained)."""
        await self.redis.aclose()
        await self.pool.close()


async def open_services(settings: Settings) -> Services:
    """Connect to PostgreSQL and Redis and build the payment service.

    ``settings.postgres_dsn`` and ``settings.redis_url`` must be resolved
    (embedded servers are started by the CLI before this).
    """
    if not settings.postgres_dsn or not settings.redis_url:
        raise ValueError("open_services needs resolved postgres_dsn and redis_url")
    pool = await create_pool(settings.postgres_dsn, settings.pg_pool_min, settings.pg_pool_max)
    redis = aioredis.from_url(settings.redis_url)
    try:
        # Fail at start-up, not on the first payment, if Redis is unreachable.
        await redis.ping()
    except Exception:
        await pool.close()
        await redis.aclose()
        raise
    payments = PaymentService(
        PostgresPaymentRepository(pool),
        RiskEngine.from_settings(settings.risk),
        Router([SandboxCardChannel()], timeout_s=settings.channel_timeout_s),
        ServiceSettings(
            fingerprint_key=settings.card_fingerprint_key,
            request_lease_s=settings.request_lease_s,
            idempotency_ttl_s=settings.idempotency_ttl_s,
        ),
    )
    return Services(pool=pool, redis=redis, payments=payments)
