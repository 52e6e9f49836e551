"""The composition root: opens PostgreSQL and Redis and assembles the payment service and vault."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from core.auth.authenticator import Authenticator, LockoutPolicy
from core.callbacks.ingress import CallbackIngress
from core.config import Settings
from core.gate.redis_gate import RedisClient, RedisRequestGate
from core.service.access import AccessService
from core.service.execution import ExecutorSettings, RequestExecutor
from core.service.merchant_settings import MerchantSettingsService
from core.service.payments import PaymentService, ServiceSettings
from core.service.status_query import StatusQueryScheduler
from core.storage.access import PostgresAccessStore
from core.storage.postgres import PostgresPaymentRepository, create_pool
from core.storage.status_queries import PostgresStatusQueryStore
from core.telemetry import Telemetry
from core.vault.keyring import Keyring
from core.vault.service import CardVault
from riskengine import RiskEngine
from router import Channel, Router
from router.channels.builtin import builtin_channels
from router.config import load_routing_file

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Services:
    """Everything a server process holds open; ``close()`` releases it."""

    pool: asyncpg.Pool
    repository: PostgresPaymentRepository
    redis: RedisClient
    gate: RedisRequestGate
    executor: RequestExecutor
    payments: PaymentService
    vault: CardVault
    authenticator: Authenticator
    access: AccessService
    merchant_settings: MerchantSettingsService
    router: Router
    status_queries: StatusQueryScheduler
    callbacks: CallbackIngress

    async def close(self) -> None:
        """Close the connection pools (after in-flight work has drained)."""
        await self.router.close()
        await self.redis.aclose()
        await self.pool.close()


def _redis_pool_sample(client: RedisClient) -> tuple[int, int, int]:
    """(in use, idle, max) connections of a single-node client's pool (cluster: not sampled)."""
    pool = getattr(client, "connection_pool", None)
    if pool is None:
        return 0, 0, 0
    # redis-py exposes these only as private attributes; read them defensively.
    in_use = len(getattr(pool, "_in_use_connections", ()))
    idle = len(getattr(pool, "_available_connections", ()))
    return in_use, idle, int(getattr(pool, "max_connections", 0) or 0)


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


async def open_services(
    settings: Settings,
    telemetry: Telemetry | None = None,
    *,
    channels: Sequence[Channel] | None = None,
) -> Services:
    """Connect to PostgreSQL and Redis and build the payment service.

    ``channels`` replaces the built-in simulated channels (tests inject
    channels with failure behaviour of their own).

    ``settings.postgres_dsn`` and ``settings.redis_url`` must be resolved
    (embedded servers are started by the CLI before this). PostgreSQL must be
    reachable; Redis need not be: the gate fails open until it is.
    ``telemetry`` defaults to recording nothing.
    """
    telemetry = telemetry or Telemetry.disabled()
    if not settings.postgres_dsn or not settings.redis_url:
        raise ValueError("open_services needs resolved postgres_dsn and redis_url")
    pool = await create_pool(settings.postgres_dsn, settings.pg_pool_min, settings.pg_pool_max)
    redis = connect_redis(settings)
    gate = RedisRequestGate(
        redis,
        settings.rate_limits,
        marker_ttl_s=settings.request_lease_s,
        retry_interval_s=settings.redis_retry_interval_s,
        telemetry=telemetry,
    )
    await gate.prepare()
    telemetry.observe_pool(
        "postgresql",
        lambda: (pool.get_size() - pool.get_idle_size(), pool.get_idle_size(), pool.get_max_size()),
    )
    telemetry.observe_pool("redis", lambda: _redis_pool_sample(redis))
    if channels is None:
        simulators = settings.channels
        channels = builtin_channels(
            {
                "acquirer_a": simulators.acquirer_a_url or "",
                "acquirer_b": simulators.acquirer_b_url or "",
            },
            (simulators.http_secret or "").encode(),
        )
    router = Router(
        channels,
        timeout_s=settings.channel_timeout_s,
        table=load_routing_file(settings.routing_file, frozenset(c.name for c in channels)),
    )
    repository = PostgresPaymentRepository(pool)
    attempts = PostgresStatusQueryStore(pool)
    executor = RequestExecutor(
        repository=repository,
        gate=gate,
        router=router,
        settings=ExecutorSettings(
            request_lease_s=settings.request_lease_s,
            idempotency_ttl_s=settings.idempotency_ttl_s,
        ),
        telemetry=telemetry,
    )
    vault = CardVault(
        executor=executor,
        repository=repository,
        gate=gate,
        keyring=Keyring.from_config(settings.vault_keys, settings.vault_active_key_id or ""),
        fingerprint_key=settings.card_fingerprint_key,
        telemetry=telemetry,
    )
    payments = PaymentService(
        executor=executor,
        repository=repository,
        gate=gate,
        risk=RiskEngine.from_settings(settings.risk),
        router=router,
        settings=ServiceSettings(fingerprint_key=settings.card_fingerprint_key),
        vault=vault,
        telemetry=telemetry,
    )
    directory = PostgresAccessStore(pool)
    auth = settings.auth
    authenticator = Authenticator(
        directory,
        gate,
        policy=LockoutPolicy(auth.lockout_failures, auth.lockout_window_s, auth.lockout_s),
        cache_s=auth.key_cache_s,
    )
    access = AccessService(executor=executor, directory=directory, authenticator=authenticator)
    return Services(
        pool=pool,
        repository=repository,
        redis=redis,
        gate=gate,
        executor=executor,
        payments=payments,
        vault=vault,
        authenticator=authenticator,
        access=access,
        merchant_settings=MerchantSettingsService(
            executor=executor, repository=repository, gate=gate
        ),
        router=router,
        status_queries=StatusQueryScheduler(
            store=attempts, router=router, settings=settings.status_query
        ),
        callbacks=CallbackIngress(
            router=router,
            store=attempts,
            started_grace_s=settings.status_query.started_grace_s,
        ),
    )
