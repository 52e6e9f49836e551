"""PostgreSQL trouble that is nobody's mistake is UNAVAILABLE with RetryInfo, never INTERNAL.

A statement cancelled by an operator or by ``statement_timeout``, a lock wait
that timed out, a failover onto a read-only standby: the request committed
nothing, and the same request sent again runs once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import grpc
import pytest

from core.domain.errors import PaycoreError, Reason
from core.storage.unavailable import unavailable_as_error
from paycore.v1 import payment_pb2 as pb
from tests.support.api import Api
from tests.support.expect import expect_error, retry_delay_s
from tests.support.requests import create_request


async def _blocked_behind(db: asyncpg.Pool, blocker_pid: int) -> int:
    """The backend waiting on a lock ``blocker_pid`` holds (only ours: the server is shared)."""
    for _ in range(400):
        pid = await db.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", blocker_pid
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.025)
    raise AssertionError("the request never waited on the held lock")


async def test_a_statement_cancelled_by_postgresql_is_unavailable_and_the_retry_runs_once(
    api: Api, db: asyncpg.Pool
) -> None:
    request = create_request()
    async with db.acquire() as blocker:
        # Another transaction holds this request_id's row, so the request's claim waits
        # on it; then the waiting statement is cancelled as statement_timeout would.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(
            "INSERT INTO idempotency_keys (merchant_id, operation, request_id, fingerprint,"
            " state, create_time, lease_until) VALUES ($1, 'CreatePayment', $2, '\\x00',"
            " 'in_progress', now(), now())",
            api.merchant_id,
            request.request_id,
        )
        call: asyncio.Future[Any] = asyncio.ensure_future(api.call("CreatePayment", request))
        waiting = await _blocked_behind(db, blocker.get_server_pid())
        assert await db.fetchval("SELECT pg_cancel_backend($1)", waiting)

        error = await expect_error(call, grpc.StatusCode.UNAVAILABLE, "SERVICE_UNAVAILABLE")
        await transaction.rollback()

    assert retry_delay_s(error)
    retried = await api.call("CreatePayment", request)
    assert retried.payment.state == pb.Payment.STATE_CAPTURED
    count = await db.fetchval(
        "SELECT count(*) FROM payments WHERE merchant_id = $1", api.merchant_id
    )
    assert count == 1


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.LockNotAvailableError("canceling statement due to lock timeout"),
        asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.IdleInTransactionSessionTimeoutError("terminating connection due to idle"),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_retryable_postgresql_errors_become_service_unavailable(error: Exception) -> None:
    with pytest.raises(PaycoreError) as caught:
        async with unavailable_as_error():
            raise error

    assert caught.value.reason is Reason.SERVICE_UNAVAILABLE
    assert caught.value.retry_after_ms > 0
