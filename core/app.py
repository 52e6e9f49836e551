"""The composition root: opens PostgreSQL and Redis and assembles the payment service and vault."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from core.auth.authenticator import Authenticator, LockoutPolicy
from core.callbacks.ingress import CallbackIngress
from core.callbacks.payouts import PayoutIngress
from core.config import Settings
from core.domain import clock as wall_clock
from core.events.relay import RelaySettings, WebhookRelay
from core.events.schedule import parse_schedule
from core.events.service import EventStreams, WebhookService
from core.events.snapshot import payment_snapshot
from core.events.stream import EventNotifier
from core.ledger.fees import FeeRule
from core.redis.auth_throttle import RedisGuessThrottle
from core.redis.key_revocations import RedisKeyRevocations
from core.redis.request_gate import RedisClient, RedisRequestGate
from core.redis.velocity import RedisVelocity
from core.risk.rules_file import RulesFile, audit_to, default_rules_path
from core.risk.screen import RiskScreen
from core.service.access import AccessService
from core.service.accounts import AccountService
from core.service.card_vault import CardVault
from core.service.execution import ExecutorSettings, RequestExecutor
from core.service.merchant_routing import MerchantRoutingService
from core.service.merchant_settings import MerchantSettingsService
from core.service.payments.service import PaymentService, ServiceSettings
from core.service.payouts import (
    BankPayouts,
    PayoutQuerySettings,
    PayoutStatusQueries,
)
from core.service.risk_back_office import RiskService
from core.service.settlement import SettlementService
from core.service.status_query import StatusQueryScheduler
from core.service.wallet_channel import WalletChannel
from core.storage.access import PostgresAccessStore
from core.storage.events import PaymentOutbox, PostgresEventStore
from core.storage.ledger_store import PostgresLedgerStore
from core.storage.pool import PaycorePool, close_pool, create_pool
from core.storage.risk import PostgresRiskStore
from core.storage.routing import PostgresRoutingStore
from core.storage.status_queries import PostgresStatusQueryStore
from core.storage.unit_of_work import PostgresPaymentRepository
from core.storage.webhook_deliveries import PostgresWebhookDeliveries
from core.storage.webhook_endpoints import PostgresWebhookEndpoints
from core.telemetry import Telemetry
from core.vault.keyring import Keyring
from core.vault.secrets import SecretSealer
from router import Channel, Router
from router.channels.bank_payouts import PAYOUTS_PATH, BankPayoutChannel, SimulatedPayoutDesk
from router.channels.bank_transfer import process_bank_key, simulated_bank_channel
from router.channels.builtin import builtin_channels
from router.config import load_routing_file
from router.health import BreakerState

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Services:
    """Everything a server process holds open; ``close()`` releases it."""

    pool: PaycorePool
    repository: PostgresPaymentRepository
    redis: RedisClient
    gate: RedisRequestGate
    executor: RequestExecutor
    payments: PaymentService
    vault: CardVault
    authenticator: Authenticator
    access: AccessService
    merchant_settings: MerchantSettingsService
    risk: RiskService
    risk_screen: RiskScreen
    rules: RulesFile
    """The risk rules file; ``rules.reload()`` on SIGHUP (core/api/server.py)."""
    router: Router
    status_queries: StatusQueryScheduler
    callbacks: CallbackIngress
    accounts: AccountService
    settlement: SettlementService
    payouts: Payouts
    merchant_routing: MerchantRoutingService
    background: list[asyncio.Task[None]] = field(default_factory=list)
    notifications: Notifications | None = field(default=None)

    async def close(self, pool_within_s: float = 1.0) -> None:
        """Close the connection pools (after in-flight work has drained).

        Connections still in use ``pool_within_s`` seconds later (a request
        stuck past the drain) are cut rather than waited for.
        """
        for task in self.background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.notifications is not None:
            await self.notifications.close()
        await self.payouts.close()
        await self.router.close()
        await self.redis.aclose()
        await close_pool(self.pool, pool_within_s)


@dataclass(slots=True)
class Payouts:
    """Withdrawals' way to the bank: its payout desk (test mode), notifications, status queries."""

    desk: SimulatedPayoutDesk
    ingress: PayoutIngress
    queries: PayoutStatusQueries

    def install(self, app: web.Application) -> None:
        """Serve the bank's payout notifications on the callbacks endpoint ``app``."""
        self.ingress.install(app)

    def notify_to(self, host: str, port: int) -> None:
        """Where the (simulated) bank posts its notifications: this process's callbacks port."""
        reachable = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        self.desk.notify_url = f"http://{reachable}:{port}{PAYOUTS_PATH}"

    async def close(self) -> None:
        """Stop the bank's pending answers (their withdrawals stay PENDING, money held)."""
        await self.desk.close()


@dataclass(slots=True)
class Notifications:
    """Merchant notifications (issue 7): endpoints, the event stream, the webhook relay."""

    webhooks: WebhookService
    streams: EventStreams
    notifier: EventNotifier
    endpoints: PostgresWebhookEndpoints
    deliveries: PostgresWebhookDeliveries
    relay_settings: RelaySettings
    telemetry: Telemetry = field(default_factory=Telemetry.disabled)

    def relay(self) -> WebhookRelay:
        """A relay worker for this process (``start()`` it; ``stop()`` it before close)."""
        return WebhookRelay(self.deliveries, self.relay_settings, telemetry=self.telemetry)

    async def close(self) -> None:
        """End the event streams and stop polling for them."""
        await self.notifier.close()


def relay_settings(settings: Settings) -> RelaySettings:
    """The relay worker's settings from the ``webhook_*`` fields."""
    return RelaySettings(
        schedule_s=parse_schedule(settings.webhook_retry_schedule),
        timeout_s=settings.webhook_timeout_s,
        endpoint_concurrency=settings.webhook_endpoint_concurrency,
        max_in_flight=settings.webhook_max_in_flight,
        poll_interval_s=settings.webhook_poll_interval_s,
        allow_private_networks=settings.webhook_allow_private_networks,
    )


def _observe(telemetry: Telemetry, pool: asyncpg.Pool, redis: RedisClient, router: Router) -> None:
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


async def _merchant_routing(
    settings: Settings,
    *,
    executor: RequestExecutor,
    pool: asyncpg.Pool,
    gate: RedisRequestGate,
    router: Router,
    background: list[asyncio.Task[None]],
) -> MerchantRoutingService:
    """Merchants' own routing chains (RoutingService), loaded into ``router`` and kept fresh."""
    service = MerchantRoutingService(
        executor=executor, store=PostgresRoutingStore(pool), gate=gate, router=router
    )
    await service.refresh()
    if settings.routing_refresh_s > 0:
        background.append(asyncio.create_task(service.watch(settings.routing_refresh_s)))
    return service


def _access(
    settings: Settings, pool: asyncpg.Pool, gate: RedisRequestGate, executor: RequestExecutor
) -> tuple[Authenticator, AccessService, RedisKeyRevocations]:
    """API key authentication, key administration, and the broadcast of key changes.

    The caller runs ``key_changes.listen(authenticator)`` for the process's lifetime.
    """
    directory = PostgresAccessStore(pool)
    auth = settings.auth
    authenticator = Authenticator(
        directory,
        RedisGuessThrottle(gate.client, gate.availability),
        policy=LockoutPolicy(auth.lockout_failures, auth.lockout_window_s, auth.lockout_s),
        cache_s=auth.key_cache_s,
    )
    key_changes = RedisKeyRevocations(
        gate.client, gate.availability, retry_interval_s=settings.redis_retry_interval_s
    )
    access = AccessService(
        executor=executor, directory=directory, authenticator=authenticator, key_changes=key_changes
    )
    return authenticator, access, key_changes


async def open_services(
    settings: Settings,
    telemetry: Telemetry | None = None,
    *,
    channels: Sequence[Channel] | None = None,
    clock: Callable[[], datetime] = wall_clock.now,
) -> Services:
    """Connect to PostgreSQL and Redis and build the payment service.

    ``channels`` replaces the built-in simulated channels (tests inject
    channels with failure behaviour of their own). ``clock`` is the time by
    which settlement decides which business days are over: the process-wide
    wall clock (core/domain/clock.py) unless a test passes one it controls.

    ``settings.postgres_dsn`` and ``settings.redis_url`` must be resolved
    (embedded servers are started by the CLI before this). PostgreSQL must be
    reachable; Redis need not be: the gate fails open until it is.
    ``telemetry`` defaults to recording nothing.
    """
    telemetry = telemetry or Telemetry.disabled()
    if not settings.postgres_dsn or not settings.redis_url:
        raise ValueError("open_services needs resolved postgres_dsn and redis_url")
    pool = await create_pool(
        settings.postgres_dsn,
        settings.pg_pool_min,
        settings.pg_pool_max,
        acquire_timeout_s=settings.pg_acquire_timeout_s,
        refuse_nested=settings.pg_refuse_nested_acquire,
    )
    redis = connect_redis(settings)
    gate = RedisRequestGate(
        redis,
        settings.rate_limits,
        marker_ttl_s=settings.request_lease_s,
        retry_interval_s=settings.redis_retry_interval_s,
        telemetry=telemetry,
    )
    await gate.prepare()
    if channels is None:
        simulators = settings.channels
        channels = builtin_channels(
            {
                "acquirer_a": simulators.acquirer_a_url or "",
                "acquirer_b": simulators.acquirer_b_url or "",
            },
            (simulators.http_secret or "").encode(),
        )
        # Bank transfers: the simulated bank, notifying this process's own ingress.
        channels.append(simulated_bank_channel(settle_after_s=simulators.bank_settle_after_s))
    if all(channel.name != WalletChannel.name for channel in channels):
        # Refunds of wallet payments (PayFromWallet) go to the wallet "channel".
        channels = [*channels, WalletChannel()]
    router = Router(
        channels,
        timeout_s=settings.channel_timeout_s,
        table=load_routing_file(settings.routing_file, frozenset(c.name for c in channels)),
    )
    _observe(telemetry, pool, redis, router)
    # The outbox: every payment write appends its events in the same transaction.
    outbox = PaymentOutbox(payment_snapshot)
    repository = PostgresPaymentRepository(pool, outbox)
    attempts = PostgresStatusQueryStore(pool, outbox)
    executor = RequestExecutor(
        repository=repository,
        gate=gate,
        router=router,
        settings=ExecutorSettings(
            request_lease_s=settings.request_lease_s,
            idempotency_ttl_s=settings.idempotency_ttl_s,
        ),
        telemetry=telemetry,
        # Group commit of new payments' first transactions and of their channel answers
        # (core/service/group_commit.py, core/service/answer_commit.py).
        claims=repository if settings.pg_group_commit else None,
        answers=repository if settings.pg_group_commit else None,
    )
    keyring = Keyring.from_config(settings.vault_keys, settings.vault_active_key_id or "")
    vault = CardVault(
        executor=executor,
        repository=repository,
        gate=gate,
        keyring=keyring,
        fingerprint_key=settings.card_fingerprint_key,
        telemetry=telemetry,
    )
    rules = RulesFile(
        Path(settings.risk.rules_file) if settings.risk.rules_file else default_rules_path(),
        on_change=audit_to(pool),
    )
    velocity = RedisVelocity(
        redis,
        retry_interval_s=settings.redis_retry_interval_s,
        availability=gate.availability,
        pipeline=gate.pipeline,  # a card token's velocity leaves with the gates' scripts
    )
    await velocity.prepare()
    await gate.prepare(velocity.lua)  # the gate's script with velocity riding along
    screen = RiskScreen(
        engine=rules.engine,
        velocity=velocity,
        store=PostgresRiskStore(pool),
        vault=vault,
        settings=settings.risk,
    )
    payments = PaymentService(
        executor=executor,
        repository=repository,
        gate=gate,
        risk=screen,
        router=router,
        settings=ServiceSettings(fingerprint_key=settings.card_fingerprint_key),
        vault=vault,
        telemetry=telemetry,
        refund_risk=screen,
    )
    authenticator, access, key_changes = _access(settings, pool, gate, executor)
    risk = RiskService(
        executor=executor,
        gate=gate,
        screen=screen,
        payments=payments,
        vault=vault,
        fingerprint_key=settings.card_fingerprint_key,
    )
    ledger_store = PostgresLedgerStore(pool)
    ledger = settings.ledger
    settlement = SettlementService(
        executor=executor,
        store=ledger_store,
        gate=gate,
        default_fee=FeeRule(ledger.fee_bps, ledger.fee_fixed_minor),
        grace=timedelta(seconds=ledger.settlement_grace_s),
        clock=clock,
    )
    background = [asyncio.create_task(key_changes.listen(authenticator))]
    if settings.risk.rules_poll_interval_s > 0:
        background.append(asyncio.create_task(rules.watch(settings.risk.rules_poll_interval_s)))
    events = PostgresEventStore(pool)
    webhook_endpoints = PostgresWebhookEndpoints(pool, SecretSealer(keyring))
    webhook_deliveries = PostgresWebhookDeliveries(pool, webhook_endpoints)
    notifier = EventNotifier(events, settings.event_stream_poll_s)
    notifications = Notifications(
        webhooks=WebhookService(
            executor=executor,
            endpoints=webhook_endpoints,
            deliveries=webhook_deliveries,
            events=events,
            gate=gate,
            default_overlap=timedelta(seconds=settings.webhook_secret_overlap_s),
            require_https=settings.webhook_require_https,
        ),
        streams=EventStreams(events=events, notifier=notifier, gate=gate),
        notifier=notifier,
        endpoints=webhook_endpoints,
        deliveries=webhook_deliveries,
        relay_settings=relay_settings(settings),
        telemetry=telemetry,
    )
    if ledger.settlement_poll_interval_s > 0:
        background.append(asyncio.create_task(settlement.watch(ledger.settlement_poll_interval_s)))
    accounts, payouts = _accounts(
        settings,
        executor=executor,
        store=ledger_store,
        gate=gate,
        payments=payments,
        repository=repository,
        screen=screen,
    )
    if ledger.payout_poll_interval_s > 0:
        background.append(asyncio.create_task(payouts.queries.run(asyncio.Event())))
    merchant_routing = await _merchant_routing(
        settings, executor=executor, pool=pool, gate=gate, router=router, background=background
    )
    return Services(
        notifications=notifications,
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
        risk=risk,
        risk_screen=screen,
        rules=rules,
        router=router,
        status_queries=StatusQueryScheduler(
            store=attempts, router=router, settings=settings.status_query
        ),
        callbacks=CallbackIngress(
            router=router,
            store=attempts,
            started_grace_s=settings.status_query.started_grace_s,
        ),
        accounts=accounts,
        settlement=settlement,
        payouts=payouts,
        merchant_routing=merchant_routing,
        background=background,
    )


def _accounts(
    settings: Settings,
    *,
    executor: RequestExecutor,
    store: PostgresLedgerStore,
    gate: RedisRequestGate,
    payments: PaymentService,
    repository: PostgresPaymentRepository,
    screen: RiskScreen,
) -> tuple[AccountService, Payouts]:
    """AccountService, with withdrawals going to the bank's payout side (its test mode).

    The simulated bank signs payout notifications with the key its
    bank-transfer notifications use (one bank, one key per process); paycore
    verifies them with its public half, as with a real bank.
    """
    ledger = settings.ledger
    delays = ledger.payout_query_delays_s
    bank_key = process_bank_key()
    desk = SimulatedPayoutDesk(bank_key, settle_after_s=ledger.payout_settle_after_s)
    channel = BankPayoutChannel(desk, bank_key.public_key())
    accounts = AccountService(
        executor=executor,
        store=store,
        gate=gate,
        payments=payments,
        repository=repository,
        risk=screen,
        payouts=BankPayouts(channel, first_query_after_s=delays[0]),
    )
    queries = PayoutStatusQueries(
        store=store,
        bank=channel,
        complete=accounts.complete_withdrawal,
        settings=PayoutQuerySettings(delays, poll_interval_s=ledger.payout_poll_interval_s),
    )
    ingress = PayoutIngress(
        channel=channel, withdrawals=store, complete=accounts.complete_withdrawal
    )
    return accounts, Payouts(desk, ingress, queries)
