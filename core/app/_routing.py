"""Routing: the channels and their router, merchants' own routing chains, and what settles
an attempt whose channel answer is late (status queries and channel notifications)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from core.callbacks.ingress import CallbackIngress
from core.config import Settings
from core.redis.request_gate import RedisRequestGate
from core.service.execution import RequestExecutor
from core.service.merchant_routing import MerchantRoutingService
from core.service.status_query import StatusQueryScheduler
from core.service.wallet_channel import WalletChannel
from core.storage.routing import PostgresRoutingStore
from core.storage.status_queries import PostgresStatusQueryStore
from router import Channel, Router
from router.channels.bank_transfer import simulated_bank_channel
from router.channels.builtin import builtin_channels
from router.channels.redirect_wallet import simulated_wallet_channels
from router.config import load_routing_file


def build_router(settings: Settings, channels: Sequence[Channel] | None) -> Router:
    """The router over ``channels`` (by default the built-in simulated ones) and the wallet.

    ``channels`` replaces the built-in channels (tests inject channels with
    failure behaviour of their own); the routing table comes from
    ``settings.routing_file`` and may name only channels the router has.
    """
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
        # Redirect and QR wallets: the sandbox wallets, their pages on this process's
        # callbacks port.
        channels.extend(simulated_wallet_channels(expiry_s=simulators.redirect_wallet_expiry_s))
    if all(channel.name != WalletChannel.name for channel in channels):
        # Refunds of wallet payments (PayFromWallet) go to the wallet "channel".
        channels = [*channels, WalletChannel()]
    return Router(
        channels,
        timeout_s=settings.channel_timeout_s,
        table=load_routing_file(settings.routing_file, frozenset(c.name for c in channels)),
    )


async def open_merchant_routing(
    settings: Settings,
    *,
    executor: RequestExecutor,
    pool: asyncpg.Pool,
    gate: RedisRequestGate,
    router: Router,
    background: list[asyncio.Task[None]],
) -> MerchantRoutingService:
    """Merchants' own routing chains (RoutingService), loaded into ``router`` and kept fresh.

    The refresh task, if any, is appended to ``background`` (cancelled by ``Services.close``).
    """
    service = MerchantRoutingService(
        executor=executor, store=PostgresRoutingStore(pool), gate=gate, router=router
    )
    await service.refresh()
    if settings.routing_refresh_s > 0:
        background.append(asyncio.create_task(service.watch(settings.routing_refresh_s)))
    return service


def attempt_resolution(
    settings: Settings, attempts: PostgresStatusQueryStore, router: Router
) -> tuple[StatusQueryScheduler, CallbackIngress]:
    """What settles an attempt left without an answer: status queries and channel notifications."""
    status_queries = StatusQueryScheduler(
        store=attempts, router=router, settings=settings.status_query
    )
    callbacks = CallbackIngress(
        router=router, store=attempts, started_grace_s=settings.status_query.started_grace_s
    )
    return status_queries, callbacks
