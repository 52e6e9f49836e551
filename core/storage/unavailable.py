"""PostgreSQL away, as callers see it: SERVICE_UNAVAILABLE (retryable), never INTERNAL.

Every store wraps its reads and transactions in ``unavailable_as_error`` so a
dropped connection, a restart or a full pool becomes one catalog reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from core.domain.errors import PaycoreError, Reason

# Errors that mean "PostgreSQL is not reachable or not accepting this work right
# now": the request did not commit and retrying it (same request_id) is safe.
# Whole SQLSTATE classes where the class means exactly that, so a sibling that
# was never seen in a test does not surface as INTERNAL.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: connection exceptions
    asyncpg.InterfaceError,
    # A connection the server dropped mid-query is left in a query state; giving it
    # back to the pool (its reset) then fails with this, after a rollback (tests/faults).
    asyncpg.InternalClientError,
    # Class 57, operator intervention: a query cancelled (pg_cancel_backend,
    # statement_timeout), an admin or crash shutdown, "cannot connect now" while
    # the server starts, an idle session timeout.
    asyncpg.OperatorInterventionError,
    # Class 53, insufficient resources: too many connections, out of memory, disk full.
    asyncpg.InsufficientResourcesError,
    # Class 40, transaction rollback: lost a race PostgreSQL detected (serialization
    # failure, deadlock); nothing committed.
    asyncpg.TransactionRollbackError,
    # lock_timeout expired (55P03), a failover left us on a read-only standby
    # (25006), idle_in_transaction_session_timeout (25P03).
    asyncpg.LockNotAvailableError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.IdleInTransactionSessionTimeoutError,
    # A schema change invalidated a prepared statement inside a transaction
    # (asyncpg re-prepares it by itself outside one); the retry re-prepares.
    asyncpg.InvalidCachedStatementError,
)


@asynccontextmanager
async def unavailable_as_error() -> AsyncIterator[None]:
    """Turn "PostgreSQL is not reachable" into SERVICE_UNAVAILABLE (retrying is safe)."""
    try:
        yield
    except UNAVAILABLE as exc:
        raise PaycoreError(Reason.SERVICE_UNAVAILABLE, dependency="PostgreSQL") from exc
