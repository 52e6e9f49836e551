"""``Services``, everything a server process holds open, and the order it starts and closes in."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from core.api.server import CallbackReceiver
from core.app._accounts import Payouts
from core.app._disputes import Disputes
from core.app._notifications import Notifications
from core.auth.authenticator import Authenticator
from core.callbacks.ingress import CallbackIngress
from core.config import Settings
from core.redis.key_revocations import RedisKeyRevocations
from core.redis.request_gate import RedisClient, RedisRequestGate
from core.risk.rules_file import RulesFile
from core.risk.screen import RiskScreen
from core.service.access import AccessService
from core.service.accounts import AccountService
from core.service.billing import BillingRunner
from core.service.card_vault import CardVault
from core.service.customers import CustomerService
from core.service.execution import RequestExecutor
from core.service.mandates.service import MandateService
from core.service.merchant_routing import MerchantRoutingService
from core.service.merchant_settings import MerchantSettingsService
from core.service.payments.service import PaymentService
from core.service.risk_back_office import RiskService
from core.service.settlement import SettlementService
from core.service.status_query import StatusQueryScheduler
from core.service.subscriptions import SubscriptionService
from core.storage.pool import PaycorePool, close_pool
from core.storage.unit_of_work import PostgresPaymentRepository
from router import Router


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
    """The risk rules file; reloaded on SIGHUP (core/runtime/serve.py)."""
    router: Router
    status_queries: StatusQueryScheduler
    callbacks: CallbackIngress
    accounts: AccountService
    settlement: SettlementService
    payouts: Payouts
    merchant_routing: MerchantRoutingService
    customers: CustomerService
    mandates: MandateService
    subscriptions: SubscriptionService
    billing: BillingRunner
    """Bills due subscriptions when run (``run_once``)."""
    background: list[asyncio.Task[None]] = field(default_factory=list)
    notifications: Notifications | None = field(default=None)
    three_ds: tuple[CallbackReceiver, ...] = ()
    """The sandbox issuer's challenge page and the challenges' completion endpoint."""
    disputes: Disputes | None = field(default=None)

    async def close(self, pool_within_s: float = 1.0) -> None:
        """Close the connection pools (after in-flight work has drained).

        Connections still in use ``pool_within_s`` seconds later (a request
        stuck past the drain) are cut rather than waited for.
        """
        # Background work first, in the order it was started: every task reads
        # Redis or PostgreSQL, so it stops before the connections it uses. A task
        # cancelled inside a transaction leaves nothing half done: PostgreSQL rolls
        # the transaction back. A business day not settled is settled by the next
        # poll (here or in the next process); a withdrawal being queried stays
        # leased and PENDING, its money held, until a later round queries it again.
        for task in self.background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Event streams next: their poller reads PostgreSQL.
        if self.notifications is not None:
            await self.notifications.close()
        # The bank's pending payout answers: their withdrawals stay PENDING, money
        # held, until a payout status query asks the bank again.
        await self.payouts.close()
        # The channels' HTTP sessions: no request is left to call a channel.
        await self.router.close()
        # Redis, then PostgreSQL: the last connections, once nothing above uses them.
        await self.redis.aclose()
        await close_pool(self.pool, pool_within_s)


def start_background(
    settings: Settings,
    *,
    authenticator: Authenticator,
    key_changes: RedisKeyRevocations,
    rules: RulesFile,
    settlement: SettlementService,
    payouts: Payouts,
) -> list[asyncio.Task[None]]:
    """Start the process's background work, in this order (``Services.close`` cancels it).

    Always the broadcast of API key changes from other processes; polling the
    risk rules file, due settlements and payout status queries when their
    intervals are set.
    """
    background = [asyncio.create_task(key_changes.listen(authenticator))]
    if settings.risk.rules_poll_interval_s > 0:
        background.append(asyncio.create_task(rules.watch(settings.risk.rules_poll_interval_s)))
    ledger = settings.ledger
    if ledger.settlement_poll_interval_s > 0:
        background.append(asyncio.create_task(settlement.watch(ledger.settlement_poll_interval_s)))
    if ledger.payout_poll_interval_s > 0:
        background.append(asyncio.create_task(payouts.queries.run(asyncio.Event())))
    return background
