"""PostgreSQL away, as callers see it: SERVICE_UNAVAILABLE (retryable), never INTERNAL.

Every store wraps its reads and transactions in ``unavailable_as_error`` so a
dropped connection, a restart or a full pool becomes one catalog reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from core.domain.errors import PaycoreError, Reason

# Errors that mean "PostgreSQL is not reachable or not accepting work right
# now": the request did not commit and retrying it (same request_id) is safe.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    # A connection the server dropped mid-query is left in a query state; giving it
    # back to the pool (its reset) then fails with this, after a rollback (tests/faults).
    asyncpg.InternalClientError,
    # Lost a race that PostgreSQL detected; nothing committed.
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


@asynccontextmanager
async def unavailable_as_error() -> AsyncIterator[None]:
    """Turn "PostgreSQL is not reachable" into SERVICE_UNAVAILABLE (retrying is safe)."""
    try:
        yield
    except UNAVAILABLE as exc:
        raise PaycoreError(Reason.SERVICE_UNAVAILABLE, dependency="PostgreSQL") from exc
