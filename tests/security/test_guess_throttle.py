"""The guess throttle: failed keys are counted and slowed down, valid keys always pass (issue 16.4).

Every test here calls from 127.0.0.1, like every merchant behind one NAT,
proxy or ingress would: the source address is shared, so a lock on it must
never touch a caller that presents a valid key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from core.app import Services
from core.auth.authenticator import LockoutPolicy
from core.config import AuthSettings, Settings
from core.redis.auth_throttle import RedisGuessThrottle
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc
from tests.support.auth import Metadata, bearer, merchant_metadata
from tests.support.expect import expect_error, retry_delay_s
from tests.support.redis_server import start_redis
from tests.support.serving import serve_paycore

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
LOCKED = grpc.StatusCode.RESOURCE_EXHAUSTED
POLICY = LockoutPolicy(failures=3, window_s=60, lockout_s=120)


@pytest.fixture
async def strict(settings: Settings) -> AsyncIterator[tuple[Any, Services]]:
    """A server locking a source or key prefix after 3 failures, on a Redis of its own.

    ``key_cache_s=0``: every call verifies its key in PostgreSQL, as a key no
    process has seen yet (a new worker, a cache expired) would.
    """
    redis = start_redis()
    auth = AuthSettings(
        lockout_failures=POLICY.failures,
        lockout_window_s=POLICY.window_s,
        lockout_s=POLICY.lockout_s,
        key_cache_s=0,
    )
    try:
        async with serve_paycore(settings.replace(redis_url=redis.url, auth=auth)) as paycore:
            yield paycore.stub(payment_service_pb2_grpc.PaymentServiceStub), paycore.services
    finally:
        redis.stop()


async def _list(stub: Any, metadata: Metadata) -> svc.ListPaymentsResponse:
    return await stub.ListPayments(svc.ListPaymentsRequest(), metadata=metadata)


def _secret_of(metadata: Metadata) -> str:
    return metadata[0][1].removeprefix("Bearer ")


async def test_a_valid_key_is_accepted_from_an_address_that_sent_many_bad_keys(
    strict: tuple[Any, Services], merchant_id: str
) -> None:
    stub, services = strict
    valid = await merchant_metadata(services.pool, merchant_id)

    refusals = []
    for guess in range(12):  # other callers behind the same address, guessing
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _list(stub, bearer(f"pck_0000000000{guess:02d}_" + "A" * 43))
        refusals.append(caught.value.code())

    assert refusals[:2] == [UNAUTHENTICATED] * 2
    assert refusals[2:] == [LOCKED] * 10  # the address is locked for bad keys...
    assert list((await _list(stub, valid)).payments) == []  # ...never for a valid one
    locked = await expect_error(
        _list(stub, bearer("pck_0000000000ZZ_" + "A" * 43)), LOCKED, "AUTHENTICATION_LOCKED"
    )
    delay = retry_delay_s(locked)
    assert delay is not None and 0 < delay <= POLICY.lockout_s
    assert "Too many failed authentications" in (locked.details() or "")


async def test_wrong_secrets_for_a_key_prefix_never_lock_out_the_key_holder(
    strict: tuple[Any, Services], merchant_id: str
) -> None:
    stub, services = strict
    valid = await merchant_metadata(services.pool, merchant_id)
    prefix = _secret_of(valid)[:16]  # public: shown wherever keys are listed or logged

    for _ in range(POLICY.failures):
        with pytest.raises(grpc.aio.AioRpcError):
            await _list(stub, bearer(f"{prefix}_" + "B" * 43))

    await expect_error(
        _list(stub, bearer(f"{prefix}_" + "C" * 43)), LOCKED, "AUTHENTICATION_LOCKED"
    )
    assert list((await _list(stub, valid)).payments) == []


async def test_a_revoked_key_is_counted_as_a_failure_but_a_malformed_merchant_header_is_not(
    strict: tuple[Any, Services], merchant_id: str
) -> None:
    stub, services = strict
    valid = await merchant_metadata(services.pool, merchant_id)
    await services.pool.execute(
        "UPDATE api_keys SET revoke_time = now() WHERE prefix = $1", _secret_of(valid)[:16]
    )
    other = await merchant_metadata(services.pool, merchant_id)

    for _ in range(POLICY.failures - 1):
        await expect_error(_list(stub, valid), UNAUTHENTICATED, "API_KEY_INVALID")
    for _ in range(POLICY.failures):  # a client bug with a valid key, not a guess
        await expect_error(
            _list(stub, (*other, ("x-paycore-merchant-id", "no spaces"))),
            UNAUTHENTICATED,
            "MERCHANT_IDENTITY_MISSING",
        )
    await expect_error(_list(stub, valid), LOCKED, "AUTHENTICATION_LOCKED")
    assert list((await _list(stub, other)).payments) == []


async def test_failures_are_counted_per_source_and_per_key_prefix_in_redis(
    strict: tuple[Any, Services],
) -> None:
    _, services = strict
    throttle = RedisGuessThrottle(services.redis, services.gate.availability)

    counted = [
        await throttle.note_failure("10.0.0.1", "pck_AAAAAAAAAAAA", POLICY)
        for _ in range(POLICY.failures)
    ]

    assert counted[:-1] == [0] * (POLICY.failures - 1) and counted[-1] > 0
    assert await throttle.note_failure("10.0.0.1", None, POLICY) > 0  # the source
    assert await throttle.note_failure("10.9.9.9", "pck_AAAAAAAAAAAA", POLICY) > 0  # the prefix
    assert await throttle.note_failure("10.9.9.8", "pck_BBBBBBBBBBBB", POLICY) == 0
    assert await throttle.note_failure("10.9.9.7", None, POLICY) == 0


async def test_a_lock_runs_its_course_instead_of_growing_with_refused_guesses(
    strict: tuple[Any, Services],
) -> None:
    _, services = strict
    throttle = RedisGuessThrottle(services.redis, services.gate.availability)
    *_, first = [
        await throttle.note_failure("10.0.0.3", None, POLICY) for _ in range(POLICY.failures)
    ]

    later = [await throttle.note_failure("10.0.0.3", None, POLICY) for _ in range(20)]

    assert 0 < max(later) <= first
    assert later == sorted(later, reverse=True)


async def test_failures_spread_beyond_the_window_do_not_lock(
    strict: tuple[Any, Services],
) -> None:
    _, services = strict
    throttle = RedisGuessThrottle(services.redis, services.gate.availability)
    brief = LockoutPolicy(failures=3, window_s=0.001, lockout_s=120)

    for _ in range(5):
        assert await throttle.note_failure("10.0.0.2", None, brief) == 0
        await asyncio.sleep(0.01)  # each failure outlives the 1 ms window


async def test_a_missing_key_is_not_counted_as_a_guess(
    strict: tuple[Any, Services], merchant_id: str
) -> None:
    stub, services = strict
    valid = await merchant_metadata(services.pool, merchant_id)

    for _ in range(5):
        await expect_error(_list(stub, ()), UNAUTHENTICATED, "API_KEY_MISSING")

    assert list((await _list(stub, valid)).payments) == []
    throttle = RedisGuessThrottle(services.redis, services.gate.availability)
    assert await throttle.note_failure("127.0.0.1", None, POLICY) == 0  # the first failure
