"""Reads spend tokens leased a few at a time from the merchant's GCRA in Redis (issue 18).

The limit keeps its meaning (per merchant, shared by every process through
Redis, on Redis' clock); a process may spend at most one lease of tokens that
Redis admitted earlier, which bounds the over-admission (core/redis/read_leases.py).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from core.config import RateLimitSettings
from core.domain.errors import Code, RateLimitedError, Reason
from core.gate import Admission
from core.gate.limits import RateLimit, RpcClass
from core.redis.read_leases import LEASE_LIFETIME_S, LeasedBudgets, lease_size
from tests.support.redis_server import RedisServerHandle

from .conftest import GateBackend, MakeGate
from .helpers import READS, admit_all, refusal


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedRedis:
    """A lease call answering from a list of (granted, retry_after_us), counting the calls."""

    def __init__(self, *answers: tuple[int, int]) -> None:
        self.answers = list(answers)
        self.asked: list[int] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(
        self, merchant_id: str, rpc_class: RpcClass, limit: RateLimit, want: int
    ) -> tuple[int, int]:
        self.asked.append(want)
        await self.release.wait()
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


LIMIT = RateLimit(rate_per_s=1000, burst=100)  # 10 tokens per lease


def test_a_lease_is_a_small_fraction_of_a_second_never_more_than_the_burst() -> None:
    assert lease_size(RateLimit(500, 100)) == 5
    assert lease_size(RateLimit(1000, 100)) == 10
    assert lease_size(RateLimit(1e9, 10**9)) == 32  # capped
    assert lease_size(RateLimit(1e9, 3)) == 3  # never past the burst
    assert lease_size(RateLimit(5, 3)) == 1  # slow limits stay exact: one token a lease
    assert lease_size(RateLimit(0.5, 1)) == 1


async def test_a_lease_admits_that_many_reads_then_leases_again() -> None:
    redis = ScriptedRedis((10, 0), (10, 0))
    budgets = LeasedBudgets(redis, FakeClock())

    assert [await budgets.spend("m", READS, LIMIT) for _ in range(11)] == [0] * 11
    assert redis.asked == [10, 10]
    assert budgets.stats.leases == 2


async def test_concurrent_reads_share_one_lease_in_flight() -> None:
    redis = ScriptedRedis((10, 0))
    redis.release.clear()
    budgets = LeasedBudgets(redis, FakeClock())

    spending = [asyncio.ensure_future(budgets.spend("m", READS, LIMIT)) for _ in range(10)]
    await asyncio.sleep(0)
    redis.release.set()

    assert await asyncio.gather(*spending) == [0] * 10
    assert redis.asked == [10]


async def test_a_partial_grant_serves_its_tokens_and_the_rest_are_refused() -> None:
    redis = ScriptedRedis((2, 0), (0, 7000), (0, 7000))
    redis.release.clear()
    budgets = LeasedBudgets(redis, FakeClock())

    spending = [asyncio.ensure_future(budgets.spend("m", READS, LIMIT)) for _ in range(4)]
    await asyncio.sleep(0)
    redis.release.set()

    # Two tokens granted, then Redis refuses: a caller waiting on a refused
    # lease gets its refusal without asking again.
    assert sorted(await asyncio.gather(*spending)) == [0, 0, 7000, 7000]
    assert len(redis.asked) in (2, 3)


async def test_callers_waiting_on_a_refused_lease_share_its_refusal() -> None:
    redis = ScriptedRedis((0, 7000))
    redis.release.clear()
    budgets = LeasedBudgets(redis, FakeClock())

    spending = [asyncio.ensure_future(budgets.spend("m", READS, LIMIT)) for _ in range(5)]
    await asyncio.sleep(0)
    redis.release.set()

    assert await asyncio.gather(*spending) == [7000] * 5
    assert redis.asked == [10]


async def test_a_failed_lease_fails_every_caller_waiting_on_it() -> None:
    redis = ScriptedRedis(ConnectionError("down"))  # type: ignore[arg-type]
    redis.release.clear()
    budgets = LeasedBudgets(redis, FakeClock())

    spending = [asyncio.ensure_future(budgets.spend("m", READS, LIMIT)) for _ in range(3)]
    await asyncio.sleep(0)
    redis.release.set()

    outcomes = await asyncio.gather(*spending, return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    assert redis.asked == [10]


async def test_tokens_not_spent_within_their_lifetime_are_dropped() -> None:
    clock = FakeClock()
    redis = ScriptedRedis((10, 0), (10, 0))
    budgets = LeasedBudgets(redis, clock)

    await budgets.spend("m", READS, LIMIT)
    clock.now += LEASE_LIFETIME_S
    await budgets.spend("m", READS, LIMIT)

    assert redis.asked == [10, 10]
    assert budgets.stats.dropped == 9


async def test_after_a_refusal_reads_are_refused_locally_until_its_delay_has_passed() -> None:
    clock = FakeClock()
    redis = ScriptedRedis((0, 4000), (10, 0))
    budgets = LeasedBudgets(redis, clock)

    assert await budgets.spend("m", READS, LIMIT) == 4000
    clock.now += 0.003
    assert await budgets.spend("m", READS, LIMIT) == pytest.approx(1000, abs=1)
    assert redis.asked == [10]  # not asked again: GCRA admits nothing sooner
    clock.now += 0.001
    assert await budgets.spend("m", READS, LIMIT) == 0
    assert redis.asked == [10, 10]


async def test_merchants_and_classes_lease_separately() -> None:
    redis = ScriptedRedis((10, 0), (10, 0), (10, 0))
    budgets = LeasedBudgets(redis, FakeClock())

    await budgets.spend("m", READS, LIMIT)
    await budgets.spend("other", READS, LIMIT)
    await budgets.spend("m", RpcClass.WRITES, LIMIT)
    await budgets.spend("m", READS, LIMIT)

    assert len(redis.asked) == 3


async def test_a_gate_leases_reads_with_one_round_trip_per_lease(
    gate_backend: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    limits = RateLimitSettings(reads_per_s=1000, reads_burst=100)
    gate = await make_gate(gate_backend, limits=limits)

    assert await admit_all(gate, merchant_id, READS, 25) == [Admission.UNCHECKED] * 25

    assert gate.stats.redis_round_trips == 3  # 10 + 10 + 5 of a third lease
    assert gate.stats.fail_open_decisions == 0


async def test_a_read_refused_by_redis_is_rate_limited_with_a_retry_delay(
    gate_backend: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    # 10 tokens a lease, a burst of 10: one lease takes the whole burst.
    limits = RateLimitSettings(reads_per_s=1000, reads_burst=10)
    gate = await make_gate(gate_backend, limits=limits)
    await admit_all(gate, merchant_id, READS, 10)
    # The 1 ms interval refills fast: exhaust whatever came back meanwhile.
    with pytest.raises(RateLimitedError) as refused:
        for _ in range(1000):
            await gate.admit(merchant_id, READS, None)

    error = refused.value
    assert (error.reason, error.code) == (Reason.RATE_LIMITED, Code.RESOURCE_EXHAUSTED)
    assert error.quota_subject == f"merchant:{merchant_id}:reads"
    assert 0 < error.retry_after_ms <= 10


async def test_two_gates_on_one_redis_share_the_budget(
    gate_backend: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    limits = RateLimitSettings(reads_per_s=1, reads_burst=4)  # one token a lease: exact
    first = await make_gate(gate_backend, limits=limits)
    second = await make_gate(gate_backend, limits=limits)

    await admit_all(first, merchant_id, READS, 2)
    await admit_all(second, merchant_id, READS, 2)
    await refusal(first, merchant_id, READS)
    await refusal(second, merchant_id, READS)


RATE_PER_S, BURST, WINDOW_S, CALLERS = 2000, 50, 1.5, 8


async def test_two_gates_never_admit_more_than_the_limit_plus_one_lease_each(
    private_redis: RedisServerHandle, make_gate: MakeGate, merchant_id: str
) -> None:
    backend = GateBackend(private_redis.url, cluster=False)
    limits = RateLimitSettings(reads_per_s=RATE_PER_S, reads_burst=BURST)
    gates = [await make_gate(backend, limits=limits) for _ in range(2)]
    accepted = refused = 0
    started = time.monotonic()
    deadline = started + WINDOW_S

    async def hammer(gate_index: int) -> None:
        nonlocal accepted, refused
        while time.monotonic() < deadline:
            try:
                await gates[gate_index].admit(merchant_id, READS, None)
            except RateLimitedError:
                refused += 1
                await asyncio.sleep(0.001)
            else:
                accepted += 1

    await asyncio.gather(*(hammer(i % 2) for i in range(2 * CALLERS)))
    elapsed = time.monotonic() - started

    bound = lease_size(RateLimit(RATE_PER_S, BURST)) * len(gates)
    assert accepted <= BURST + RATE_PER_S * elapsed + bound + 1, (accepted, refused)
    assert refused > 0  # they really asked for more than the limit
    # Leases, not reads; and a refusal is not asked again before its delay.
    assert sum(g.stats.redis_round_trips for g in gates) < (accepted + refused) / 2
