"""Rate limits per merchant and per RPC class, with QuotaFailure and RetryInfo; fail-open."""

from __future__ import annotations

import asyncio

import grpc
from google.rpc import error_details_pb2

from core.config import RateLimitSettings
from paycore.v1 import payment_service_pb2 as svc
from tests.support.answers import Answer
from tests.support.requests import create_request, new_merchant_id

from .conftest import GENEROUS, StartStack
from .stack import CREATE, Stack

RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
# One write a second: a burst spread out by a busy machine (the suite shares
# two cores with PostgreSQL and Redis) still lands within one emission interval.
WRITES_PER_S, WRITES_BURST = 1.0, 3
TIGHT_WRITES = RateLimitSettings(
    writes_per_s=WRITES_PER_S, writes_burst=WRITES_BURST, reads_per_s=1000, reads_burst=1000
)
BURST = 10
"""Creates sent at once: all reach the gate well within one emission interval (1 s)."""


def assert_rate_limited(answer: Answer, merchant_id: str, rpc_class: str) -> float:
    """RESOURCE_EXHAUSTED RATE_LIMITED with QuotaFailure and RetryInfo; returns the delay."""
    assert (answer.code, answer.reason) == (RESOURCE_EXHAUSTED, "RATE_LIMITED"), answer
    (quota,) = answer.details(error_details_pb2.QuotaFailure)
    assert [v.subject for v in quota.violations] == [f"merchant:{merchant_id}:{rpc_class}"]
    assert merchant_id in quota.violations[0].description
    delay = answer.retry_delay_s
    assert delay is not None
    assert 0 < delay <= 1 / WRITES_PER_S * WRITES_BURST
    return delay


async def burst_of_creates(stack: Stack, merchant_id: str) -> tuple[list[Answer], list[Answer]]:
    """BURST creates with fresh request_ids at once: (accepted, refused)."""
    answers = await asyncio.gather(
        *(stack.answer(merchant_id, create_request()) for _ in range(BURST))
    )
    return [a for a in answers if a.ok], [a for a in answers if not a.ok]


async def test_over_the_write_limit_is_resource_exhausted_with_quota_failure_and_retry_info(
    private_stack: StartStack,
) -> None:
    stack = await private_stack(rate_limits=TIGHT_WRITES)
    merchant = new_merchant_id()

    accepted, refused = await burst_of_creates(stack, merchant)

    assert len(accepted) == WRITES_BURST
    delays = [assert_rate_limited(answer, merchant, "writes") for answer in refused]
    assert stack.stats.rate_limited == len(refused)
    # A refused create wrote nothing: no payment, no request record.
    created = sorted(a.response(CREATE).payment.id for a in accepted)
    assert sorted(p.id for p in await (await stack.api(merchant)).list_all()) == created
    assert await stack.count("idempotency_keys", merchant) == WRITES_BURST
    # After the advertised delay, the next write goes through.
    await asyncio.sleep(max(delays))
    assert (await stack.answer(merchant, create_request())).ok


async def test_a_rate_limited_request_id_executes_when_retried_later(
    private_stack: StartStack,
) -> None:
    stack = await private_stack(rate_limits=TIGHT_WRITES)
    merchant = new_merchant_id()
    await burst_of_creates(stack, merchant)
    request = create_request()

    refused = await stack.answer(merchant, request)
    await asyncio.sleep(assert_rate_limited(refused, merchant, "writes"))
    retried = await stack.answer(merchant, request)

    assert retried.ok, retried
    assert await stack.count("idempotency_keys", merchant, request_id=request.request_id) == 1
    assert await stack.count("payments", merchant) == WRITES_BURST + 1


async def test_merchants_have_separate_budgets(private_stack: StartStack) -> None:
    stack = await private_stack(rate_limits=TIGHT_WRITES)
    busy, other = new_merchant_id(), new_merchant_id()

    await burst_of_creates(stack, busy)
    accepted, refused = await burst_of_creates(stack, other)

    assert len(accepted) == WRITES_BURST
    for answer in refused:
        assert_rate_limited(answer, other, "writes")


async def test_a_merchant_override_limits_only_that_merchant(private_stack: StartStack) -> None:
    limited, other = new_merchant_id(), new_merchant_id()
    overrides = {"writes_per_s": WRITES_PER_S, "writes_burst": WRITES_BURST}
    stack = await private_stack(
        rate_limits=RateLimitSettings(
            writes_per_s=GENEROUS.writes_per_s,
            writes_burst=GENEROUS.writes_burst,
            merchants={limited: overrides},
        )
    )

    limited_accepted, _ = await burst_of_creates(stack, limited)
    other_accepted, other_refused = await burst_of_creates(stack, other)

    assert len(limited_accepted) == WRITES_BURST
    assert (len(other_accepted), other_refused) == (BURST, [])


async def test_reads_have_their_own_budget(private_stack: StartStack) -> None:
    stack = await private_stack(
        rate_limits=RateLimitSettings(
            writes_per_s=WRITES_PER_S, writes_burst=WRITES_BURST, reads_per_s=1, reads_burst=3
        )
    )
    merchant = new_merchant_id()
    accepted, _ = await burst_of_creates(stack, merchant)
    payment_id = accepted[0].response(CREATE).payment.id
    get = svc.GetPaymentRequest(payment_id=payment_id)

    # Writes are exhausted; reads still work, until their own budget is spent.
    reads = await stack.answers(merchant, get, BURST)

    assert [a.ok for a in reads].count(True) == 3
    for answer in reads:
        if not answer.ok:
            assert_rate_limited(answer, merchant, "reads")


async def test_with_redis_down_limits_fall_back_to_the_process_and_never_error(
    private_stack: StartStack,
) -> None:
    stack = await private_stack(rate_limits=TIGHT_WRITES, redis_retry_interval_s=0.2)
    merchant = new_merchant_id()
    await asyncio.to_thread(stack.redis.stop)

    accepted, refused = await burst_of_creates(stack, merchant)

    # Never UNAVAILABLE: the local limiter enforces the same budget in this process.
    assert len(accepted) == WRITES_BURST
    for answer in refused:
        assert_rate_limited(answer, merchant, "writes")
    assert stack.stats.fail_open_decisions == BURST
    assert await stack.count("payments", merchant) == WRITES_BURST
