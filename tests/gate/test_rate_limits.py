"""Rate limits of the request gate, on a single Redis and on a Redis Cluster (issue 3).

Limits are GCRA in one Redis script, per merchant and RPC class, with Redis'
clock; over the limit the gate raises RateLimitedError saying when to retry.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from redis.crc import key_slot

from core.config import RateLimitSettings
from core.domain.errors import Code, RateLimitedError, Reason
from core.redis.request_gate import rate_key, request_key
from tests.support.redis_cluster import RedisClusterHandle
from tests.support.requests import new_merchant_id

from .conftest import GateBackend, MakeGate
from .helpers import READS, WRITES, admit_all, new_claim, refusal

PRECISION_RATE_PER_S = 50
PRECISION_BURST = 5
PRECISION_WINDOW_S = 10.0
PRECISION_CALLERS = 16


async def test_accepted_requests_stay_within_5_percent_of_the_limit_over_10_seconds(
    gate_backend: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    gate = await make_gate(
        gate_backend,
        limits=RateLimitSettings(writes_per_s=PRECISION_RATE_PER_S, writes_burst=PRECISION_BURST),
        marker_ttl_s=5.0,
    )
    accepted = refused = 0
    asked: list[float] = []  # when each admission was answered
    started = time.monotonic()
    deadline = started + PRECISION_WINDOW_S

    async def hammer() -> None:
        nonlocal accepted, refused
        while time.monotonic() < deadline:
            try:
                await gate.admit(merchant_id, WRITES, new_claim())
            except RateLimitedError:
                refused += 1
                await asyncio.sleep(0.002)  # ignores retry_after_ms on purpose
            else:
                accepted += 1
            asked.append(time.monotonic())

    await asyncio.gather(*(hammer() for _ in range(PRECISION_CALLERS)))
    elapsed = time.monotonic() - started

    # GCRA banks at most the burst while nobody asks, so a gap in which no answer
    # came at all (this process descheduled on a busy machine) loses the rate for
    # whatever of it the burst could not bank: only the time callers were really
    # asking counts.
    banked_s = PRECISION_BURST / PRECISION_RATE_PER_S
    answers = [started, *sorted(asked)]
    idle = sum(
        later - earlier - banked_s
        for earlier, later in itertools.pairwise(answers)
        if later - earlier > banked_s
    )
    expected = PRECISION_RATE_PER_S * (elapsed - idle)
    assert abs(accepted - expected) <= 0.05 * expected + PRECISION_BURST, (
        accepted,
        refused,
        round(idle, 3),
    )
    # GCRA's hard bound: no window lets more than the burst plus the rate through.
    assert accepted <= PRECISION_BURST + PRECISION_RATE_PER_S * elapsed + 1
    assert refused > accepted  # the callers really asked for more than the limit
    assert gate.stats.rate_limited == refused
    assert gate.stats.fail_open_decisions == 0


async def test_a_burst_passes_at_once_then_the_next_request_is_refused(
    gate_backend: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    gate = await make_gate(gate_backend, limits=RateLimitSettings(writes_per_s=1, writes_burst=5))

    assert len(await admit_all(gate, merchant_id, WRITES, 5)) == 5
    error = await refusal(gate, merchant_id, WRITES)

    assert error.reason is Reason.RATE_LIMITED
    assert error.code is Code.RESOURCE_EXHAUSTED
    assert error.quota_subject == f"merchant:{merchant_id}:writes"
    assert error.metadata["limit"] == "1/s (burst 5)"
    assert 0 < error.retry_after_ms <= 1000
    assert gate.stats.rate_limited == 1


async def test_waiting_retry_after_ms_lets_the_next_request_through(
    gate_backend: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    gate = await make_gate(gate_backend, limits=RateLimitSettings(writes_per_s=2, writes_burst=1))
    await admit_all(gate, merchant_id, WRITES, 1)

    first = await refusal(gate, merchant_id, WRITES)
    assert 300 <= first.retry_after_ms <= 500  # one 500 ms interval, minus the time spent
    await asyncio.sleep(first.retry_after_ms / 2000)
    second = await refusal(gate, merchant_id, WRITES)  # waiting less is not enough...
    assert 0 < second.retry_after_ms < first.retry_after_ms
    await asyncio.sleep(second.retry_after_ms / 1000)
    await admit_all(gate, merchant_id, WRITES, 1)  # ...waiting that long is


async def test_writes_and_reads_spend_separate_budgets(
    gate_backend: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    limits = RateLimitSettings(writes_per_s=1, writes_burst=2, reads_per_s=1, reads_burst=3)
    gate = await make_gate(gate_backend, limits=limits)

    await admit_all(gate, merchant_id, WRITES, 2)
    assert (await refusal(gate, merchant_id, WRITES)).quota_subject.endswith(":writes")
    await admit_all(gate, merchant_id, READS, 3)
    assert (await refusal(gate, merchant_id, READS)).quota_subject.endswith(":reads")


async def test_merchants_are_limited_independently(
    gate_backend: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    gate = await make_gate(gate_backend, limits=RateLimitSettings(writes_per_s=1, writes_burst=2))
    other = new_merchant_id()

    await admit_all(gate, merchant_id, WRITES, 2)
    await refusal(gate, merchant_id, WRITES)
    await admit_all(gate, other, WRITES, 2)
    await refusal(gate, other, WRITES)


async def test_a_merchant_override_applies_to_that_merchant_only(
    gate_backend: GateBackend, make_gate: MakeGate
) -> None:
    vip, ordinary = new_merchant_id(), new_merchant_id()
    limits = RateLimitSettings(
        writes_per_s=1,
        writes_burst=2,
        reads_per_s=1,
        reads_burst=2,
        merchants={vip: {"writes_burst": 6}},
    )
    gate = await make_gate(gate_backend, limits=limits)

    await admit_all(gate, vip, WRITES, 6)
    assert (await refusal(gate, vip, WRITES)).metadata["limit"] == "1/s (burst 6)"
    await admit_all(gate, vip, READS, 2)  # the override names writes only
    await refusal(gate, vip, READS)
    await admit_all(gate, ordinary, WRITES, 2)
    assert (await refusal(gate, ordinary, WRITES)).metadata["limit"] == "1/s (burst 2)"


@pytest.mark.parametrize("merchant", ["acme", "m_0123456789abcdef", "Shop-42", "x"])
def test_every_key_of_a_merchant_hashes_to_one_cluster_slot(merchant: str) -> None:
    keys = [
        rate_key(merchant, WRITES),
        rate_key(merchant, READS),
        request_key(merchant, new_claim("create_payment")),
        request_key(merchant, new_claim("refund_payment")),
    ]
    assert len({key_slot(key.encode()) for key in keys}) == 1


async def test_the_cluster_keeps_each_merchant_whole_on_one_master(
    redis_cluster: RedisClusterHandle, make_gate: MakeGate
) -> None:
    backend = GateBackend(redis_cluster.url, cluster=True)
    # Slow limits: a rate key lives until its TAT, and must still be there to be seen.
    one_per_s = RateLimitSettings(writes_per_s=1, writes_burst=1, reads_per_s=1, reads_burst=1)
    gate = await make_gate(backend, limits=one_per_s)
    # One merchant on each master, so the script is seen to run on all of them.
    by_master: dict[int, str] = {}
    while len(by_master) < len(redis_cluster.nodes):
        candidate = new_merchant_id()
        by_master.setdefault(
            redis_cluster.node_for_key(rate_key(candidate, WRITES)).port, candidate
        )

    for port, merchant_id in by_master.items():
        claim = new_claim()
        await gate.admit(merchant_id, WRITES, claim)
        await gate.admit(merchant_id, READS, None)
        await refusal(gate, merchant_id, WRITES)

        slot = key_slot(rate_key(merchant_id, WRITES).encode())
        for node in redis_cluster.nodes:
            with node.client() as connection:
                keys = set(connection.cluster("GETKEYSINSLOT", slot, 10))
            expected = {
                rate_key(merchant_id, WRITES),
                rate_key(merchant_id, READS),
                request_key(merchant_id, claim),
            }
            assert keys == (expected if node.port == port else set())
