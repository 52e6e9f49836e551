"""What an operator sees of a running paycore: its log lines, its health stream at shutdown."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import grpc
import pytest
from google.type import money_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health_pb2 import HealthCheckResponse

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc
from tests.support.auth import dsn_merchant_metadata

from .operated import log_lines, start_operated
from .processes import Spawn

pytestmark = pytest.mark.slow

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = ("traceparent", f"00-{TRACE_ID}-b7ad6b7169203331-01")
GRACE_S = 60.0
"""Long, so that a shutdown held for the grace period cannot pass for a prompt one."""


async def test_every_rpc_writes_one_json_access_line_and_nothing_else_is_written(
    spawn: Spawn, postgres_dsn: str, redis_url: str
) -> None:
    merchant = await dsn_merchant_metadata(postgres_dsn, f"m_access_{uuid.uuid4().hex[:8]}")
    server, port = start_operated(spawn, postgres_dsn, redis_url)
    request_id = f"access-{uuid.uuid4()}"
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        payments = payment_service_pb2_grpc.PaymentServiceStub(channel)
        created = payments.CreatePayment(
            svc.CreatePaymentRequest(
                request_id=request_id,
                amount=money_pb2.Money(currency_code="USD", units=12),
                payment_method=pb.PaymentMethodData(
                    card=pb.CardData(number="4242424242424242", exp_month=1, exp_year=2099)
                ),
            ),
            metadata=(*merchant, TRACEPARENT),
            timeout=30,
        )
        with pytest.raises(grpc.RpcError) as missing:
            payments.GetPayment(
                svc.GetPaymentRequest(payment_id="pay_nothing"), metadata=merchant, timeout=30
            )
        with pytest.raises(grpc.RpcError) as anonymous:
            payments.GetPayment(svc.GetPaymentRequest(payment_id=created.payment.id), timeout=30)

    assert server.stop(signal.SIGTERM) == 0, server.output()

    lines = log_lines(server)  # every line is JSON: no C-core lines, no stray prints
    access = [line for line in lines if line["logger"] == "paycore.access"]
    assert missing.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert [(line["grpc_method"], line["grpc_code"]) for line in access] == [
        ("/paycore.v1.PaymentService/CreatePayment", "OK"),
        ("/paycore.v1.PaymentService/GetPayment", "INVALID_ARGUMENT"),
        ("/paycore.v1.PaymentService/GetPayment", "UNAUTHENTICATED"),
    ]
    first, second, third = access
    assert first["request_id"] == request_id and first["trace_id"] == TRACE_ID
    assert first["merchant_id"] == second["merchant_id"] == created.payment.merchant_id
    assert "merchant_id" not in third  # unknown: the caller has no key
    assert all(line["duration_ms"] > 0 and line["level"] == "INFO" for line in access)


async def test_an_open_health_watch_does_not_hold_shutdown_for_the_grace_period(
    spawn: Spawn, postgres_dsn: str, redis_url: str
) -> None:
    server, port = start_operated(
        spawn, postgres_dsn, redis_url, PAYCORE_GRACE_PERIOD_S=str(GRACE_S)
    )
    seen: list[int] = []
    ended: list[grpc.StatusCode] = []
    watching = threading.Event()

    def watch() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            try:
                for answer in stream:
                    seen.append(answer.status)
                    watching.set()
                ended.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                ended.append(error.code())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert watching.wait(30), "the Watch stream sent nothing"

    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=GRACE_S + 30)
    took = time.monotonic() - started
    watcher.join(30)

    assert code == 0, server.output()
    # Not a speed assertion: the old servicer held the stream, so shutdown took the
    # whole grace period (60 s); any prompt exit is far below half of it.
    assert took < GRACE_S / 2, f"shutdown took {took:.0f} s of a {GRACE_S:.0f} s grace"
    assert seen == [HealthCheckResponse.SERVING, HealthCheckResponse.NOT_SERVING]
    assert ended == [grpc.StatusCode.OK]
