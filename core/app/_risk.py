"""Risk: the rules file, screening (engine, velocity on Redis, lists, reviews), the back office."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from core.config import Settings
from core.redis.request_gate import RedisClient, RedisRequestGate
from core.redis.velocity import RedisVelocity
from core.risk.rules_file import RulesFile, audit_to, default_rules_path
from core.risk.screen import RiskScreen
from core.service.card_vault import CardVault
from core.service.execution import RequestExecutor
from core.service.payments.service import PaymentService
from core.service.risk_back_office import RiskService
from core.storage.audit import append_to
from core.storage.risk import PostgresRiskStore


def open_rules(settings: Settings, pool: asyncpg.Pool) -> RulesFile:
    """The risk rules file, loaded now (a file that does not load stops the start-up).

    Its changes are audited in PostgreSQL; ``Services.rules.reload()`` on SIGHUP.
    """
    return RulesFile(
        Path(settings.risk.rules_file) if settings.risk.rules_file else default_rules_path(),
        on_change=audit_to(append_to(pool)),
    )


async def open_risk_screen(
    settings: Settings,
    *,
    pool: asyncpg.Pool,
    redis: RedisClient,
    gate: RedisRequestGate,
    rules: RulesFile,
    vault: CardVault,
) -> RiskScreen:
    """Risk screening with velocity on the gate's Redis, sent with the gate's own commands.

    Velocity shares the gate's view of Redis (one availability, one pipeline):
    Redis is away for both or for neither, and a card token's velocity leaves in
    the gate's round trip. The gate's script is loaded again with velocity's.
    """
    velocity = RedisVelocity(
        redis,
        retry_interval_s=settings.redis_retry_interval_s,
        availability=gate.availability,
        pipeline=gate.pipeline,  # a card token's velocity leaves with the gates' scripts
    )
    await velocity.prepare()
    await gate.prepare(velocity.lua)  # the gate's script with velocity riding along
    return RiskScreen(
        engine=rules.engine,
        velocity=velocity,
        store=PostgresRiskStore(pool),
        vault=vault,
        settings=settings.risk,
    )


def build_risk_service(
    settings: Settings,
    *,
    executor: RequestExecutor,
    gate: RedisRequestGate,
    screen: RiskScreen,
    payments: PaymentService,
    vault: CardVault,
) -> RiskService:
    """The risk back office: dry-run scoring, review decisions, block and allow lists."""
    return RiskService(
        executor=executor,
        gate=gate,
        screen=screen,
        payments=payments,
        vault=vault,
        fingerprint_key=settings.card_fingerprint_key,
    )
