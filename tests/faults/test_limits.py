"""Resource safety: message size, concurrent RPCs and streams are bounded; pools recover.

These run in-process servers on the suite's PostgreSQL and Redis with small limits
(Settings.grpc_*, applied in core/api/server.py), and hold a payment's row lock to
keep calls running as long as a test needs them to.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from core.app import Services, open_services
from core.config import Settings
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc
from tests.support.api import Api
from tests.support.auth import Metadata
from tests.support.requests import create_request, new_request_id, usd
from tests.support.row_locks import payment_row, still_waiting
from tests.support.serving import serve_paycore

if TYPE_CHECKING:
    from paycore.v1.payment_service_pb2_grpc import PaymentServiceAsyncStub as AsyncStub

RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
Stub = payment_service_pb2_grpc.PaymentServiceStub


@asynccontextmanager
async def serving(
    settings: Settings, services: Services | None = None, **limits: int
) -> AsyncIterator[Callable[[], grpc.aio.Channel]]:
    """A server with ``limits`` (Settings fields); yields a factory of new channels to it.

    Services of its own unless ``services`` are given: stopping a server ends the event
    streams of the services it served, so it must not serve the session's.
    """
    channels: list[grpc.aio.Channel] = []
    async with serve_paycore(settings.replace(**limits), services=services) as paycore:

        def connect() -> grpc.aio.Channel:
            # A local subchannel pool: each channel is a connection of its own.
            channels.append(
                grpc.aio.insecure_channel(
                    paycore.target, options=[("grpc.use_local_subchannel_pool", 1)]
                )
            )
            return channels[-1]

        try:
            yield connect
        finally:
            for channel in channels:
                await channel.close(grace=None)


def capture(payment_id: str) -> svc.CapturePaymentRequest:
    return svc.CapturePaymentRequest(request_id=new_request_id(), payment_id=payment_id)


async def authorized(
    channel: grpc.aio.Channel, merchant_id: str, metadata: Metadata
) -> tuple[AsyncStub, pb.Payment, svc.GetPaymentRequest]:
    """A stub on ``channel``, an authorized payment, and a read of it."""
    stub = Stub(channel)
    payment = await Api(stub, merchant_id, metadata).authorized()
    return stub, payment, svc.GetPaymentRequest(payment_id=payment.id)


async def held_capture(
    stub: AsyncStub, payment: pb.Payment, metadata: Metadata
) -> asyncio.Task[Any]:
    """A capture of ``payment`` sent while its row is locked: still running when this returns."""
    return await still_waiting(stub.CapturePayment(capture(payment.id), metadata=metadata))


async def code_of(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_a_request_above_the_message_limit_is_refused_and_changes_nothing(
    settings: Settings, services: Services, metadata: Metadata, merchant_id: str
) -> None:
    async with serving(settings, grpc_max_message_bytes=4096) as connect:
        stub = Stub(connect())
        request = create_request(description="x" * 5000)

        code = await code_of(stub.CreatePayment(request, metadata=metadata, timeout=10))
        small = await stub.CreatePayment(create_request(), metadata=metadata, timeout=10)

    assert code == RESOURCE_EXHAUSTED
    assert small.payment.id
    payments = await services.pool.fetchval(
        "SELECT count(*) FROM payments WHERE merchant_id = $1", merchant_id
    )
    assert payments == 1


async def test_rpcs_beyond_the_concurrent_limit_are_refused_until_some_finish(
    settings: Settings, services: Services, metadata: Metadata, merchant_id: str
) -> None:
    async with serving(settings, grpc_max_concurrent_rpcs=2) as connect:
        stub, payment, read = await authorized(connect(), merchant_id, metadata)

        async with payment_row(services.pool, merchant_id, payment.id):
            held = [await held_capture(stub, payment, metadata) for _ in range(2)]
            refused = await code_of(stub.GetPayment(read, metadata=metadata, timeout=5))
        finished = [await code_of(call) for call in held]
        after = await stub.GetPayment(read, metadata=metadata, timeout=10)

    assert refused == RESOURCE_EXHAUSTED
    # One capture wins; the other is told the payment is (being) captured.
    assert sorted(c.name for c in finished) in (["FAILED_PRECONDITION", "OK"], ["ABORTED", "OK"])
    assert after.payment.amount_captured == payment.amount


async def test_a_connection_runs_at_most_the_stream_limit_at_once(
    settings: Settings, services: Services, metadata: Metadata, merchant_id: str
) -> None:
    async with serving(settings, grpc_max_concurrent_streams=1) as connect:
        stub, payment, read = await authorized(connect(), merchant_id, metadata)

        async with payment_row(services.pool, merchant_id, payment.id):
            held = await held_capture(stub, payment, metadata)
            # The same connection: the call waits for a stream (its deadline passes);
            # another connection is served.
            queued = await code_of(stub.GetPayment(read, metadata=metadata, timeout=1))
            elsewhere = await Stub(connect()).GetPayment(read, metadata=metadata, timeout=10)
        assert await code_of(held) == grpc.StatusCode.OK

    assert queued == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elsewhere.payment.id == payment.id


@pytest.fixture
async def small_pool(settings: Settings) -> AsyncIterator[Services]:
    """Services whose PostgreSQL pool holds two connections."""
    opened = await open_services(settings.replace(pg_pool_min=1, pg_pool_max=2))
    try:
        yield opened
    finally:
        await opened.close()


async def test_an_exhausted_pool_serves_again_once_its_holders_finish(
    settings: Settings, small_pool: Services, metadata: Metadata, merchant_id: str
) -> None:
    async with serving(settings, small_pool) as connect:
        stub = Stub(connect())
        api = Api(stub, merchant_id, metadata)
        payment, other = await api.authorized(), await api.authorized()

        async with payment_row(small_pool.pool, merchant_id, payment.id):
            # Five captures wait on the lock, holding both connections; their callers
            # give up (deadline), and a read of another payment finds no connection.
            gave_up = await asyncio.gather(
                *(
                    code_of(stub.CapturePayment(capture(payment.id), metadata=metadata, timeout=1))
                    for _ in range(5)
                )
            )
            starved = await code_of(
                stub.GetPayment(
                    svc.GetPaymentRequest(payment_id=other.id), metadata=metadata, timeout=1
                )
            )
        # Once the lock is gone every abandoned capture finishes and gives its
        # connection back: the pool serves everyone again.
        reads = await asyncio.gather(
            *(
                stub.GetPayment(
                    svc.GetPaymentRequest(payment_id=other.id), metadata=metadata, timeout=10
                )
                for _ in range(20)
            )
        )
        refund = await api.refund(payment.id, usd(1))

    assert set(gave_up) == {grpc.StatusCode.DEADLINE_EXCEEDED}
    assert starved in {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE}
    assert {r.payment.id for r in reads} == {other.id}
    assert refund.payment.amount_refunded == usd(1)
