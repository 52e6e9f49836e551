"""Without Redis the gate fails open: a local limiter, UNCHECKED answers, never an error.

Issue 3: "Redis down -> rate limiting fails open to a per-process local limiter,
counted in a metric and logged once per interval, never an error to the caller."
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from core.config import RateLimitSettings
from core.gate import Admission
from tests.support.redis_server import RedisServerHandle, free_port
from tests.support.requests import new_merchant_id

from .conftest import GateBackend, MakeGate
from .helpers import READS, WRITES, admit_all, new_claim, refusal

GATE_LOGGER = "core.redis.request_gate"


class FakeClock:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=["single", "cluster"])
def absent_redis(request: pytest.FixtureRequest) -> GateBackend:
    """A Redis (or Redis Cluster seed) URL on a loopback port where nothing listens."""
    return GateBackend(f"redis://127.0.0.1:{free_port()}", cluster=request.param == "cluster")


async def test_without_redis_requests_pass_unchecked_and_are_counted(
    absent_redis: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    gate = await make_gate(absent_redis)  # prepare() fails: the gate leaves Redis alone 1 s
    claim = new_claim()

    assert await gate.admit(merchant_id, WRITES, claim) is Admission.UNCHECKED
    assert await gate.admit(merchant_id, WRITES, claim) is Admission.UNCHECKED
    assert await gate.admit(merchant_id, READS, None) is Admission.UNCHECKED
    await gate.release(merchant_id, claim)

    assert gate.stats.fail_open_decisions == 3
    assert gate.stats.redis_failures == 1
    assert gate.stats.redis_round_trips == 0


async def test_without_redis_the_local_limiter_enforces_the_same_limits(
    absent_redis: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    limits = RateLimitSettings(writes_per_s=1, writes_burst=3, reads_per_s=1, reads_burst=2)
    gate = await make_gate(absent_redis, limits=limits)

    assert await admit_all(gate, merchant_id, WRITES, 3) == [Admission.UNCHECKED] * 3
    error = await refusal(gate, merchant_id, WRITES)
    assert 0 < error.retry_after_ms <= 1000
    assert error.metadata["limit"] == "1/s (burst 3)"
    await admit_all(gate, merchant_id, READS, 2)
    await refusal(gate, merchant_id, READS)
    await admit_all(gate, new_merchant_id(), WRITES, 3)
    assert gate.stats.rate_limited == 2


async def test_the_fallback_is_logged_once_per_interval(
    absent_redis: GateBackend, make_gate: MakeGate, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    caplog.set_level(logging.WARNING, logger=GATE_LOGGER)
    gate = await make_gate(absent_redis, retry_interval_s=0.0, log_interval_s=60.0, monotonic=clock)

    def warnings() -> int:
        return sum(1 for r in caplog.records if r.name == GATE_LOGGER and "Redis" in r.message)

    for _ in range(5):
        await gate.admit(new_merchant_id(), WRITES, new_claim())
        clock.advance(10.0)
    assert gate.stats.redis_failures == 6  # prepare() and every admit tried Redis...
    assert warnings() == 1  # ...one warning for the first 50 s
    clock.advance(10.0)
    await gate.admit(new_merchant_id(), WRITES, new_claim())
    assert warnings() == 2


async def test_after_the_retry_interval_the_gate_tries_redis_again(
    absent_redis: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    clock = FakeClock()
    gate = await make_gate(absent_redis, retry_interval_s=4.0, monotonic=clock)

    clock.advance(3.5)
    await gate.admit(merchant_id, READS, None)
    assert (gate.stats.redis_round_trips, gate.stats.redis_failures) == (0, 1)
    clock.advance(0.5)
    await gate.admit(merchant_id, READS, None)
    assert (gate.stats.redis_round_trips, gate.stats.redis_failures) == (1, 2)
    await gate.admit(merchant_id, READS, None)
    assert (gate.stats.redis_round_trips, gate.stats.redis_failures) == (1, 2)
    assert gate.stats.fail_open_decisions == 3


async def test_the_gate_answers_from_redis_again_once_it_is_back(
    private_redis: RedisServerHandle, make_gate: MakeGate, merchant_id: str
) -> None:
    retry_interval_s = 0.2
    backend = GateBackend(private_redis.url, cluster=False)
    gate = await make_gate(backend, retry_interval_s=retry_interval_s)
    claim = new_claim()
    assert await gate.admit(merchant_id, WRITES, new_claim()) is Admission.NEW

    private_redis.stop()
    assert await gate.admit(merchant_id, WRITES, claim) is Admission.UNCHECKED
    assert gate.stats.redis_failures == 1
    private_redis.start()  # empty: no script loaded, no markers
    await asyncio.sleep(retry_interval_s)

    assert await gate.admit(merchant_id, WRITES, claim) is Admission.NEW
    assert await gate.admit(merchant_id, WRITES, claim) is Admission.SEEN
    assert gate.stats.fail_open_decisions == 1
