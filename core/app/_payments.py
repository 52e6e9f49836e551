"""Payments: their PostgreSQL stores (with the outbox), the exactly-once executor, the service."""

from __future__ import annotations

import asyncpg

from core.config import Settings
from core.events.snapshot import payment_snapshot
from core.ports.disputes import RefundGuard
from core.redis.request_gate import RedisRequestGate
from core.risk.screen import RiskScreen
from core.service.card_vault import CardVault
from core.service.execution import ExecutorSettings, RequestExecutor
from core.service.payments.service import PaymentService, ServiceSettings
from core.service.payments.three_ds import ThreeDSecure
from core.service.payments.verification import CodeVerification
from core.storage.events import PaymentOutbox
from core.storage.status_queries import PostgresStatusQueryStore
from core.storage.unit_of_work import PostgresPaymentRepository
from core.telemetry import Telemetry
from core.wire.subscriptions import billing_event_snapshot
from router import Router


def payment_stores(
    pool: asyncpg.Pool,
) -> tuple[PostgresPaymentRepository, PostgresStatusQueryStore]:
    """The payments repository and the attempts' status query store, sharing one outbox."""
    # The outbox: every payment write appends its events in the same transaction.
    outbox = PaymentOutbox(payment_snapshot)
    repository = PostgresPaymentRepository(pool, outbox, billing_event_snapshot)
    return repository, PostgresStatusQueryStore(pool, outbox)


def build_executor(
    settings: Settings,
    *,
    repository: PostgresPaymentRepository,
    gate: RedisRequestGate,
    router: Router,
    telemetry: Telemetry,
) -> RequestExecutor:
    """The exactly-once executor every write RPC runs in (core/service/execution.py)."""
    return RequestExecutor(
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


def build_payments(
    settings: Settings,
    *,
    executor: RequestExecutor,
    repository: PostgresPaymentRepository,
    gate: RedisRequestGate,
    screen: RiskScreen,
    router: Router,
    vault: CardVault,
    telemetry: Telemetry,
    three_ds: ThreeDSecure | None = None,
    refund_guard: RefundGuard | None = None,
    verification: CodeVerification | None = None,
) -> PaymentService:
    """The payment service: payments and refunds, screened by ``screen``, routed by ``router``."""
    return PaymentService(
        executor=executor,
        repository=repository,
        gate=gate,
        risk=screen,
        router=router,
        settings=ServiceSettings(fingerprint_key=settings.card_fingerprint_key),
        vault=vault,
        telemetry=telemetry,
        refund_risk=screen,
        three_ds=three_ds,
        refund_guard=refund_guard,
        verification=verification,
    )
