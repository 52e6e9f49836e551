"""Revocations and the end of a rotation's overlap reach every process at once (issue 16.5).

"Another process" here is a second paycore server in this test process, with
services of its own, that trusts a verified key for a whole minute: without
the broadcast it would keep accepting a revoked key for that long. Each test
polls with a bounded deadline instead of asserting a delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2

from core.app import Services
from core.config import AuthSettings, Settings
from paycore.v1 import access_service_pb2 as pb
from paycore.v1 import access_service_pb2_grpc, payment_service_pb2_grpc
from paycore.v1 import payment_service_pb2 as svc
from tests.support.auth import Metadata, bearer, merchant_metadata, platform_metadata
from tests.support.redis_server import start_redis
from tests.support.serving import serve_paycore

DEADLINE_S = 10.0
"""Generous under a loaded machine; without the broadcast the other process waits 60 s."""
TRUSTED_FOR_S = 60.0


async def refused_within(call: Callable[[], Awaitable[Any]], deadline_s: float = DEADLINE_S) -> Any:
    """Repeat ``call`` until it fails UNAUTHENTICATED; fail the test after ``deadline_s``."""
    ends = time.monotonic() + deadline_s
    while True:
        try:
            await call()
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error.details()
            return error
        if time.monotonic() > ends:
            pytest.fail(f"the key was still accepted {deadline_s:.0f} s later")
        await asyncio.sleep(0.05)


class Paycore:
    """One paycore process's server: its services and stubs over a channel of its own."""

    def __init__(self, services: Services, channel: grpc.aio.Channel) -> None:
        self.services = services
        self.payments = payment_service_pb2_grpc.PaymentServiceStub(channel)
        self.access = access_service_pb2_grpc.AccessServiceStub(channel)

    async def list(self, metadata: Metadata) -> svc.ListPaymentsResponse:
        return await self.payments.ListPayments(svc.ListPaymentsRequest(), metadata=metadata)


@contextlib.asynccontextmanager
async def _serve(settings: Settings) -> AsyncIterator[Paycore]:
    async with serve_paycore(settings) as serving:
        yield Paycore(serving.services, serving.channel)


def _trusting(settings: Settings, redis_url: str | None = None) -> Settings:
    return settings.replace(
        redis_url=redis_url or settings.redis_url,
        auth=AuthSettings(lockout_failures=1_000_000, key_cache_s=TRUSTED_FOR_S),
    )


@pytest.fixture
async def here(settings: Settings) -> AsyncIterator[Paycore]:
    """The process where the superadmin revokes and rotates keys."""
    async with _serve(_trusting(settings)) as paycore:
        yield paycore


@pytest.fixture
async def elsewhere(settings: Settings) -> AsyncIterator[Paycore]:
    """Another process, on the same PostgreSQL and Redis."""
    async with _serve(_trusting(settings)) as paycore:
        yield paycore


async def _issued(paycore: Paycore, merchant_id: str) -> tuple[Metadata, str, Metadata]:
    """A merchant key (metadata and prefix) and a superadmin's metadata."""
    key = await merchant_metadata(paycore.services.pool, merchant_id)
    platform = await platform_metadata(paycore.services.pool)
    return key, key[0][1].removeprefix("Bearer ")[:16], platform


async def test_a_revocation_reaches_a_process_that_trusts_the_key(
    here: Paycore, elsewhere: Paycore, merchant_id: str
) -> None:
    key, prefix, platform = await _issued(here, merchant_id)
    await elsewhere.list(key)  # verified there, so trusted there for a minute

    await here.access.RevokeApiKey(
        pb.RevokeApiKeyRequest(request_id=str(uuid.uuid4()), prefix=prefix), metadata=platform
    )

    error = await refused_within(lambda: elsewhere.list(key))
    assert "not valid" in (error.details() or "")
    await refused_within(lambda: here.list(key), deadline_s=0)  # here: at once


@pytest.mark.parametrize("overlap_s", [0, 1], ids=["ends now", "ends in a second"])
async def test_the_end_of_a_rotation_overlap_reaches_a_process_that_trusts_the_key(
    here: Paycore, elsewhere: Paycore, merchant_id: str, overlap_s: int
) -> None:
    key, prefix, platform = await _issued(here, merchant_id)
    await elsewhere.list(key)

    rotated = await here.access.RotateApiKey(
        pb.RotateApiKeyRequest(
            request_id=str(uuid.uuid4()),
            prefix=prefix,
            overlap=duration_pb2.Duration(seconds=overlap_s),
        ),
        metadata=platform,
    )

    await refused_within(lambda: elsewhere.list(key))
    assert list((await elsewhere.list(bearer(rotated.secret))).payments) == []


async def test_revocations_reach_a_process_again_after_redis_restarts(
    settings: Settings, merchant_id: str
) -> None:
    redis = start_redis()
    try:
        async with (
            _serve(_trusting(settings, redis.url)) as here,
            _serve(_trusting(settings, redis.url)) as elsewhere,
        ):
            key, prefix, platform = await _issued(here, merchant_id)
            await asyncio.to_thread(redis.stop)
            await asyncio.to_thread(redis.start)  # the same port, nothing subscribed
            await elsewhere.list(key)

            await here.access.RevokeApiKey(
                pb.RevokeApiKeyRequest(request_id=str(uuid.uuid4()), prefix=prefix),
                metadata=platform,
            )

            await refused_within(lambda: elsewhere.list(key))
    finally:
        redis.stop()
