"""Customers (issue 20): CustomerService's use cases on their PostgreSQL reads."""

from __future__ import annotations

import asyncpg

from core.gate import RequestGate
from core.service.customers import CustomerService
from core.service.execution import RequestExecutor
from core.storage.customers import PostgresCustomerReads


def build_customers(
    pool: asyncpg.Pool, *, executor: RequestExecutor, gate: RequestGate
) -> CustomerService:
    """The customer use cases: writes through the executor's unit of work, reads on ``pool``."""
    return CustomerService(executor=executor, reads=PostgresCustomerReads(pool), gate=gate)
