"""The PostgreSQL pool under pressure (core/storage/pool.py, issue 16 #1).

A request never holds one pooled connection while waiting for another, so a
pool of two serves any number of concurrent payments; a checkout waits a
bounded time, so an exhausted pool answers UNAVAILABLE with RetryInfo instead
of hanging. Real gRPC, real PostgreSQL, servers of their own with tiny pools.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from core.app import Services
from core.config import Settings
from core.domain import ids
from core.storage.pool import NestedAcquireError, PaycorePool, create_pool
from paycore.v1 import (
    card_vault_service_pb2_grpc,
    payment_service_pb2_grpc,
    webhook_service_pb2_grpc,
)
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import webhook_service_pb2 as wh
from tests.support.api import Api, VaultApi
from tests.support.auth import Metadata
from tests.support.expect import error_info, rich_status
from tests.support.requests import by_token, create_request, distinctive_pan, new_request_id
from tests.support.serving import serve_paycore

CONCURRENT_PAYMENTS = 50
CONCURRENT_REDELIVERIES = 10
RETRY_INFO = error_details_pb2.RetryInfo


@dataclass(frozen=True)
class SmallPool:
    """A paycore server of its own whose pool holds at most two connections."""

    services: Services
    api: Api
    vault: VaultApi
    webhooks: Any
    """WebhookService stub (async; its generated stubs type it as the sync one)."""

    @property
    def pool(self) -> PaycorePool:
        return self.services.pool


@asynccontextmanager
async def small_pool(
    settings: Settings, merchant_id: str, metadata: Metadata, **overrides: object
) -> AsyncIterator[SmallPool]:
    """Serve with ``pg_pool_max=2`` (and ``overrides``) until the block ends."""
    async with serve_paycore(
        settings.replace(pg_pool_min=1, pg_pool_max=2, **overrides)
    ) as paycore:
        services = paycore.services
        yield SmallPool(
            services,
            Api(paycore.stub(payment_service_pb2_grpc.PaymentServiceStub), merchant_id, metadata),
            VaultApi(
                paycore.stub(card_vault_service_pb2_grpc.CardVaultServiceStub),
                merchant_id,
                metadata,
            ),
            paycore.stub(webhook_service_pb2_grpc.WebhookServiceStub),
        )
        assert not services.pool.nested_acquires, services.pool.nested_acquires[0]


async def test_fifty_concurrent_token_payments_on_a_pool_of_two_all_complete_once_each(
    settings: Settings, merchant_id: str, metadata: Metadata
) -> None:
    # Long enough that only a deadlock, never a slow machine, leaves a call waiting.
    async with small_pool(settings, merchant_id, metadata, pg_acquire_timeout_s=60.0) as server:
        token = await server.vault.tokenize(distinctive_pan())
        requests = [
            create_request(request_id=new_request_id(), payment_method=by_token(token.id))
            for _ in range(CONCURRENT_PAYMENTS)
        ]

        stub: Any = server.api.stub  # async (typed as the sync stub)
        replies = await asyncio.gather(
            *(stub.CreatePayment(request, metadata=metadata, timeout=90) for request in requests)
        )
        stored = await server.pool.fetch(
            "SELECT id, state FROM payments WHERE merchant_id = $1", merchant_id
        )

    assert {reply.payment.state for reply in replies} == {pb.Payment.STATE_CAPTURED}
    assert {reply.payment.payment_method.card.last4 for reply in replies} == {token.card.last4}
    paid = {reply.payment.id for reply in replies}
    assert len(paid) == CONCURRENT_PAYMENTS  # one payment per request
    assert {row["id"] for row in stored} == paid  # and no other
    assert {row["state"] for row in stored} == {"captured"}


async def test_concurrent_redeliveries_on_a_pool_of_two_all_answer(
    settings: Settings, merchant_id: str, metadata: Metadata
) -> None:
    # RedeliverEvent read its event on a second connection inside its transaction: two
    # at once on a pool of two held both connections and waited for a third for ever.
    async with small_pool(settings, merchant_id, metadata, pg_acquire_timeout_s=60.0) as server:
        answers = await asyncio.gather(
            *(
                server.webhooks.RedeliverEvent(
                    wh.RedeliverEventRequest(
                        request_id=new_request_id(), event_id=ids.new_id("evt")
                    ),
                    metadata=metadata,
                    timeout=90,
                )
                for _ in range(CONCURRENT_REDELIVERIES)
            ),
            return_exceptions=True,
        )

    reasons = {
        (answer.code(), error_info(answer).reason)
        for answer in answers
        if isinstance(answer, grpc.aio.AioRpcError)
    }
    assert len(answers) == CONCURRENT_REDELIVERIES
    assert reasons == {(grpc.StatusCode.NOT_FOUND, "EVENT_NOT_FOUND")}


@asynccontextmanager
async def every_connection_taken(pool: PaycorePool) -> AsyncIterator[None]:
    """Hold all of ``pool``'s connections (one per task, as requests hold them)."""
    release = asyncio.Event()
    taken: asyncio.Queue[None] = asyncio.Queue()

    async def hold() -> None:
        async with pool.acquire():
            taken.put_nowait(None)
            await release.wait()

    holders = [asyncio.ensure_future(hold()) for _ in range(pool.get_max_size())]
    for _ in holders:
        await taken.get()
    try:
        yield
    finally:
        release.set()
        await asyncio.gather(*holders)


def retry_delay_ms(error: grpc.aio.AioRpcError) -> int:
    """The delay of the error's one RetryInfo."""
    (retry,) = [
        detail
        for detail in rich_status(error).details
        if detail.Is(RETRY_INFO.DESCRIPTOR)  # type: ignore[arg-type]  # upb descriptors
    ]
    delay = RETRY_INFO()
    retry.Unpack(delay)
    milliseconds: int = delay.retry_delay.ToMilliseconds()
    return milliseconds


async def refusal(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error ``call`` fails with."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call
    return refused.value


async def test_an_exhausted_pool_answers_unavailable_with_retry_info_and_changes_nothing(
    settings: Settings, merchant_id: str, metadata: Metadata
) -> None:
    async with small_pool(settings, merchant_id, metadata, pg_acquire_timeout_s=0.2) as server:
        paid = await server.api.captured()  # the API key is verified (and cached) before
        request = create_request(request_id=new_request_id())
        stub: Any = server.api.stub

        async with every_connection_taken(server.pool):
            errors = [
                await refusal(stub.CreatePayment(request, metadata=metadata, timeout=60)),
                await refusal(
                    stub.GetPayment(
                        svc.GetPaymentRequest(payment_id=paid.id), metadata=metadata, timeout=60
                    )
                ),
                await refusal(
                    server.webhooks.ListWebhookEndpoints(
                        wh.ListWebhookEndpointsRequest(), metadata=metadata, timeout=60
                    )
                ),
            ]
        retried = await stub.CreatePayment(request, metadata=metadata, timeout=60)
        payments = await server.pool.fetchval(
            "SELECT count(*) FROM payments WHERE merchant_id = $1", merchant_id
        )

    assert [(error.code(), error_info(error).reason) for error in errors] == [
        (grpc.StatusCode.UNAVAILABLE, "SERVICE_UNAVAILABLE")
    ] * len(errors)
    assert all(retry_delay_ms(error) > 0 for error in errors)
    # The refused create left nothing behind: its retry (same request_id) ran once.
    assert retried.payment.state == pb.Payment.STATE_CAPTURED
    assert payments == 2


async def test_a_task_holding_a_connection_is_refused_a_second_one(postgres_dsn: str) -> None:
    pool = await create_pool(postgres_dsn, 1, 2, acquire_timeout_s=5.0, refuse_nested=True)
    try:
        async with pool.acquire() as connection:
            with pytest.raises(NestedAcquireError):
                await pool.fetchval("SELECT 1")
            # Another task may take the second connection meanwhile: that is no nesting.
            elsewhere = await asyncio.ensure_future(pool.fetchval("SELECT 2"))
            inside = await connection.fetchval("SELECT 3")
        after = await pool.fetchval("SELECT 4")  # given back: the task may take one again
    finally:
        await pool.close()

    assert (elsewhere, inside, after) == (2, 3, 4)
    assert len(pool.nested_acquires) == 1
    assert "test_a_task_holding_a_connection_is_refused" in pool.nested_acquires[0]
