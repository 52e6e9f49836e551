"""The composition root: opens PostgreSQL and Redis and wires every feature's service on them.

``open_services`` reads as the start-up sequence; each step is built by the
module of its feature:

- ``_connections``: the PostgreSQL pool, the Redis client, the request gate, their gauges;
- ``_routing``: the channels and the router, merchants' routing chains, status queries
  and channel notifications;
- ``_payments``: the payment stores (with the outbox), the exactly-once executor, payments;
- ``_vault``: the card vault and its keyring;
- ``_risk``: the rules file, risk screening with velocity, the risk back office;
- ``_access``: API key authentication and administration;
- ``_accounts``: settlement, wallets and withdrawals, payouts to the bank (``Payouts``);
- ``_customers``: the merchant's customers;
- ``_mandates``: customers' saved payment methods and mandates;
- ``_subscriptions``: prices, subscriptions and the billing runner;
- ``_notifications``: webhooks, event streams and the relay's settings (``Notifications``);
- ``_disputes``: disputes, their refund guard and the channels' dispute ingress (``Disputes``);
- ``_services``: ``Services``, the background work, and the order of ``close()``;
- ``_server``: the gRPC server of ``Services`` (``paycore_server``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime

from core.app._access import build_access
from core.app._accounts import Payouts, build_accounts, build_settlement
from core.app._connections import connect_redis, observe_gauges, open_gate, open_pool
from core.app._customers import build_customers
from core.app._disputes import build_disputes, dispute_store, refund_guard, start_deadlines
from core.app._mandates import build_mandates
from core.app._notifications import Notifications, build_notifications
from core.app._payments import build_executor, build_payments, payment_stores
from core.app._risk import build_risk_service, open_risk_screen, open_rules
from core.app._routing import attempt_resolution, build_router, open_merchant_routing
from core.app._server import paycore_server, server_settings
from core.app._services import Services, start_background
from core.app._subscriptions import build_billing, build_subscriptions
from core.app._three_ds import build_challenge_completion, build_three_ds
from core.app._vault import build_vault, vault_keyring
from core.app._verification import build_verification, start_verification_sweep
from core.config import Settings
from core.domain import clock as wall_clock
from core.service.merchant_settings import MerchantSettingsService
from core.storage.ledger_store import PostgresLedgerStore
from core.storage.pool import close_pool
from core.telemetry import Telemetry
from router import Channel

__all__ = [
    "Notifications",
    "Payouts",
    "Services",
    "connect_redis",
    "open_services",
    "paycore_server",
    "server_settings",
]


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
    # A start-up that fails half way (a rules file that does not load, PostgreSQL gone
    # during the first routing refresh) closes what it had opened, last first: the
    # caller (a test, a supervisor that retries) must not inherit connections or tasks.
    async with contextlib.AsyncExitStack() as undo:
        pool = await open_pool(settings)
        undo.push_async_callback(close_pool, pool, 1.0)
        redis = connect_redis(settings)
        undo.push_async_callback(redis.aclose)
        gate = await open_gate(settings, redis, telemetry)
        router = build_router(settings, channels)
        undo.push_async_callback(router.close)
        observe_gauges(telemetry, pool, redis, router)
        repository, attempts = payment_stores(pool)
        executor = build_executor(
            settings, repository=repository, gate=gate, router=router, telemetry=telemetry
        )
        keyring = vault_keyring(settings)
        vault = build_vault(
            settings,
            executor=executor,
            repository=repository,
            gate=gate,
            keyring=keyring,
            telemetry=telemetry,
        )
        rules = open_rules(settings, pool)
        screen = await open_risk_screen(
            settings, pool=pool, redis=redis, gate=gate, rules=rules, vault=vault
        )
        three_ds = build_three_ds(settings, vault)
        disputes_store = dispute_store(pool)
        ledger_store = PostgresLedgerStore(pool)
        verification = build_verification(
            settings, pool=pool, executor=executor, repository=repository, ledger=ledger_store
        )
        payments = build_payments(
            settings,
            executor=executor,
            repository=repository,
            gate=gate,
            screen=screen,
            router=router,
            vault=vault,
            telemetry=telemetry,
            three_ds=three_ds.authentication,
            refund_guard=refund_guard(disputes_store),
            verification=verification,
        )
        authenticator, access, key_changes = build_access(settings, pool, gate, executor)
        risk = build_risk_service(
            settings, executor=executor, gate=gate, screen=screen, payments=payments, vault=vault
        )
        settlement = build_settlement(
            settings, executor=executor, store=ledger_store, gate=gate, clock=clock
        )
        notifications = build_notifications(
            settings, pool=pool, keyring=keyring, executor=executor, gate=gate, telemetry=telemetry
        )
        accounts, payouts = build_accounts(
            settings,
            executor=executor,
            store=ledger_store,
            gate=gate,
            payments=payments,
            repository=repository,
            screen=screen,
        )
        # The background work starts once all it uses is built (nothing awaits after the
        # risk screen opens, so no task of it could have run sooner); merchant routing's
        # first refresh then runs with it going.
        background = start_background(
            settings,
            authenticator=authenticator,
            key_changes=key_changes,
            rules=rules,
            settlement=settlement,
            payouts=payouts,
        )
        undo.push_async_callback(_cancel, background)
        merchant_routing = await open_merchant_routing(
            settings, executor=executor, pool=pool, gate=gate, router=router, background=background
        )
        status_queries, callbacks = attempt_resolution(settings, attempts, router)
        challenges = build_challenge_completion(
            settings,
            three_ds,
            pool=pool,
            executor=executor,
            repository=repository,
            vault=vault,
            authorization=payments.authorization,
            background=background,
        )
        start_verification_sweep(verification, background)
        disputes = build_disputes(
            settings,
            store=disputes_store,
            executor=executor,
            repository=repository,
            gate=gate,
            keyring=keyring,
            router=router,
            attempts=attempts,
            clock=clock,
            velocity=screen.velocity,
            telemetry=telemetry,
        )
        start_deadlines(settings, disputes, background)
        billing = build_billing(settings, pool, repository=repository, payments=payments)
        if settings.billing_poll_s > 0:
            background.append(asyncio.create_task(billing.watch(settings.billing_poll_s)))
        services = Services(
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
            status_queries=status_queries,
            callbacks=callbacks,
            accounts=accounts,
            settlement=settlement,
            payouts=payouts,
            merchant_routing=merchant_routing,
            customers=build_customers(pool, executor=executor, gate=gate),
            mandates=build_mandates(
                pool, executor=executor, repository=repository, gate=gate, payments=payments
            ),
            subscriptions=build_subscriptions(settings, pool, executor=executor, gate=gate),
            billing=billing,
            background=background,
            three_ds=(three_ds.acs, challenges),
            disputes=disputes,
        )
        undo.pop_all()  # started: Services.close releases all of it from now on
    return services


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
