"""Disputes (issue 22): their store, the use cases, the channels' notification ingress."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from core.callbacks.disputes import DisputeIngress
from core.config import Settings
from core.ports.telemetry import NO_INSTRUMENTS
from core.redis.request_gate import RedisRequestGate
from core.service.dispute_deadlines import DeadlineSettings, DisputeDeadlines
from core.service.dispute_outcomes import DisputeOutcomes
from core.service.disputes import DisputedRefunds, DisputeService
from core.service.execution import RequestExecutor
from core.storage.disputes import PostgresDisputes
from core.storage.status_queries import PostgresStatusQueryStore
from core.storage.unit_of_work import PostgresPaymentRepository
from core.telemetry import Telemetry
from core.vault.keyring import Keyring
from core.vault.secrets import SecretSealer
from core.wire.disputes import dispute_bytes
from riskengine import VelocityStore
from router import Router


@dataclass(frozen=True, slots=True)
class Disputes:
    """The dispute service (DisputeService RPCs), the channels' dispute ingress, the due dates."""

    service: DisputeService
    ingress: DisputeIngress
    deadlines: DisputeDeadlines
    """Closes unanswered disputes past their due date (started by ``start_deadlines``)."""


def dispute_store(pool: asyncpg.Pool) -> PostgresDisputes:
    """The disputes' PostgreSQL store; its events keep the dispute's API message."""
    return PostgresDisputes(pool, dispute_bytes)


def refund_guard(store: PostgresDisputes) -> DisputedRefunds:
    """What RefundPayment asks first: refused while a dispute holds the payment."""
    return DisputedRefunds(store)


def build_disputes(
    settings: Settings,
    *,
    store: PostgresDisputes,
    executor: RequestExecutor,
    repository: PostgresPaymentRepository,
    gate: RedisRequestGate,
    keyring: Keyring,
    router: Router,
    attempts: PostgresStatusQueryStore,
    clock: Callable[[], datetime],
    velocity: VelocityStore | None = None,
    telemetry: Telemetry | None = None,
) -> Disputes:
    """The dispute use cases (evidence sealed under the vault ``keyring``) and their ingress;
    a lost dispute is counted in ``velocity`` for the risk engine."""
    service = DisputeService(
        executor=executor,
        repository=repository,
        store=store,
        gate=gate,
        sealer=SecretSealer(keyring),
        dispute_fee_minor=settings.ledger.dispute_fee_minor,
        router=router,
        channel_timeout_s=settings.channel_timeout_s,
        outcomes=DisputeOutcomes(store, velocity, telemetry or NO_INSTRUMENTS),
    )
    return Disputes(
        service,
        DisputeIngress(router=router, attempts=attempts, disputes=service),
        DisputeDeadlines(
            service,
            DeadlineSettings(poll_interval_s=settings.ledger.dispute_poll_interval_s),
            clock,
        ),
    )


def start_deadlines(
    settings: Settings, disputes: Disputes, background: list[asyncio.Task[None]]
) -> None:
    """Start the due date job in this process (every worker runs one: SKIP LOCKED keeps
    their batches apart); ``Services.close`` cancels it with the other background work."""
    if settings.ledger.dispute_poll_interval_s > 0:
        task = asyncio.create_task(disputes.deadlines.run(asyncio.Event()), name="disputes")
        background.append(task)
