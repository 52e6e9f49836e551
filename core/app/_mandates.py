"""Saved payment methods and mandates (issue 20): MandateService on the payment path."""

from __future__ import annotations

import asyncpg

from core.gate import RequestGate
from core.service.execution import RequestExecutor
from core.service.mandates.service import MandateService
from core.service.payments.service import PaymentService
from core.storage.mandates import PostgresMandateReads
from core.storage.unit_of_work import PostgresPaymentRepository


def build_mandates(
    pool: asyncpg.Pool,
    *,
    executor: RequestExecutor,
    repository: PostgresPaymentRepository,
    gate: RequestGate,
    payments: PaymentService,
) -> MandateService:
    """The mandate use cases: verifications take ``payments``' authorization path."""
    return MandateService(
        executor=executor,
        repository=repository,
        authorization=payments.authorization,
        reads=PostgresMandateReads(pool),
        gate=gate,
    )
