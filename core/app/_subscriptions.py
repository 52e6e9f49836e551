"""Subscriptions and billing (issue 20): the use cases and the billing runner, wired."""

from __future__ import annotations

import os
import socket

import asyncpg

from core.api.charge_replies import CreatePaymentReplies
from core.config import Settings
from core.domain.invoices import DunningSchedule
from core.gate import RequestGate
from core.ports.repository import PaymentRepository
from core.service.billing import BillingRunner, BillingSettings
from core.service.execution import RequestExecutor
from core.service.payments.service import PaymentService
from core.service.subscriptions import SubscriptionService
from core.storage.billing_leases import PostgresBillingLeases
from core.storage.subscriptions import PostgresSubscriptionReads


def build_subscriptions(
    settings: Settings, pool: asyncpg.Pool, *, executor: RequestExecutor, gate: RequestGate
) -> SubscriptionService:
    """The subscription use cases: writes through the executor, reads on ``pool``."""
    return SubscriptionService(
        executor=executor,
        reads=PostgresSubscriptionReads(pool),
        gate=gate,
        test_clocks=settings.billing_test_clocks,
    )


def build_billing(
    settings: Settings,
    pool: asyncpg.Pool,
    *,
    repository: PaymentRepository,
    payments: PaymentService,
    owner: str = "",
) -> BillingRunner:
    """A billing runner charging through ``payments``; ``owner`` names its leases."""
    return BillingRunner(
        repository=repository,
        leases=PostgresBillingLeases(pool),
        charge=payments.create_payment,
        replies=CreatePaymentReplies(),
        settings=BillingSettings(
            dunning=DunningSchedule.of(settings.billing_dunning_days),
            lease_s=settings.billing_lease_s,
        ),
        owner=owner or f"{socket.gethostname()}:{os.getpid()}",
    )
