"""``paycore run`` stops within its grace on SIGTERM, even with every pooled connection stuck.

Requests blocked in PostgreSQL keep their connections past the grace; the
worker must then cut them (PostgreSQL rolls their transactions back) instead
of waiting for them for ever (issue 16 #1: a deadlocked worker ignored
SIGTERM for over five minutes and had to be killed).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc
from tests.support.api import Api
from tests.support.auth import merchant_metadata
from tests.support.requests import new_merchant_id, new_request_id
from tests.support.row_locks import payment_row

from .processes import Spawn, free_port, health, wait_for

pytestmark = pytest.mark.slow

GRACE_S = 2.0
EXIT_MARGIN_S = 10.0
"""What ``paycore run`` allows a worker beyond the grace to exit (core/cli.py)."""


async def _waiting_on_locks(db: asyncpg.Pool) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return count


async def test_sigterm_stops_within_the_grace_while_every_connection_is_stuck(
    spawn: Spawn, data_dir: Path, postgres_dsn: str, redis_url: str
) -> None:
    port = free_port()
    server = spawn(
        "-m",
        "core.cli",
        "run",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        PAYCORE_POSTGRES_DSN=postgres_dsn,
        PAYCORE_REDIS_URL=redis_url,
        PAYCORE_PG_POOL_MIN="1",
        PAYCORE_PG_POOL_MAX="2",
        PAYCORE_GRACE_PERIOD_S=str(GRACE_S),
    )
    wait_for(
        lambda: (
            server.process.poll() is not None
            or health(port) == health_pb2.HealthCheckResponse.SERVING
        ),
        timeout=90,
        what="paycore to serve",
    )
    merchant_id = new_merchant_id()
    db = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2)
    assert db is not None
    try:
        metadata = await merchant_metadata(db, merchant_id)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = payment_service_pb2_grpc.PaymentServiceStub(channel)
            payment = await Api(stub, merchant_id, metadata).authorized()
            async with payment_row(db, merchant_id, payment.id):
                # Two captures wait on the row lock, each holding one of the two connections.
                stuck = [
                    asyncio.ensure_future(
                        stub.CapturePayment(
                            svc.CapturePaymentRequest(
                                request_id=new_request_id(), payment_id=payment.id
                            ),
                            metadata=metadata,
                            timeout=120,
                        )
                    )
                    for _ in range(2)
                ]
                # PostgreSQL's view is polled: nothing in this process can signal it.
                while await _waiting_on_locks(db) < len(stuck):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)

                server.process.send_signal(signal.SIGTERM)
                try:
                    code = await asyncio.to_thread(server.process.wait, GRACE_S + EXIT_MARGIN_S)
                except subprocess.TimeoutExpired:
                    pytest.fail(f"paycore still running after SIGTERM:\n{server.output()[-3000:]}")
            await asyncio.gather(*stuck, return_exceptions=True)
        state = await db.fetchval(
            "SELECT state FROM payments WHERE merchant_id = $1 AND id = $2", merchant_id, payment.id
        )
    finally:
        await db.close()

    assert code == 0, server.output()
    assert "paycore stopped" in server.output()
    # The cut captures committed nothing: the payment is authorized, as before them.
    assert state == "authorized"
    assert payment.state == pb.Payment.STATE_AUTHORIZED
