"""A rider: a new payment's risk velocity in the gate's own round trip (issue 10).

The velocity script rides in the gate's EVALSHA and runs only after the gate
admitted the request as NEW: a repeat, a reused request_id or a rate-limited
request counts nothing. On a Redis Cluster too, since every key carries the
merchant's hash tag. When Redis is away the gate and velocity both fail open
from one shared view of it, without a second try.
"""

from __future__ import annotations

import pytest

from core.config import RateLimitSettings
from core.domain.errors import RateLimitedError
from core.domain.money import Money
from core.domain.payment import CardSummary
from core.gate import Admission
from core.redis.request_gate import RedisRequestGate
from core.redis.velocity import RedisVelocity
from riskengine.features import UNAVAILABLE, Transaction
from tests.support.redis_server import free_port
from tests.support.requests import new_merchant_id

from .conftest import GateBackend, MakeGate
from .helpers import WRITES, new_claim


@pytest.fixture(params=["single", "cluster"])
def absent_redis(request: pytest.FixtureRequest) -> GateBackend:
    """A Redis (or Redis Cluster seed) URL on a loopback port where nothing listens."""
    return GateBackend(f"redis://127.0.0.1:{free_port()}", cluster=request.param == "cluster")


def payment(merchant_id: str, amount: int = 1500) -> Transaction:
    card = CardSummary("visa", "424242", "4242", 12, 2030, "fp_rider")
    return Transaction(merchant_id, Money(amount, "USD"), card, customer_id="cus_1")


def velocity_of(gate: RedisRequestGate) -> RedisVelocity:
    """Velocity on the gate's Redis, sharing its view of Redis as core/app/_risk.py wires it."""
    return RedisVelocity(gate.client, retry_interval_s=1.0, availability=gate.availability)


async def counted_so_far(velocity: RedisVelocity, merchant_id: str) -> int:
    """The payments of the test card counted in the last 24 h (a dry run: counts nothing)."""
    read = await velocity.read_and_count(payment(merchant_id), "dry", write=False)
    return read.velocity.counters["card_count_24h"]


async def test_a_new_payment_is_counted_in_the_gates_round_trip(
    gate_backend: GateBackend, make_gate: MakeGate
) -> None:
    gate = await make_gate(gate_backend)
    velocity = velocity_of(gate)
    merchant = new_merchant_id()

    first = velocity.rider(payment(merchant), "pay_1")
    assert await gate.admit(merchant, WRITES, new_claim(), first) is Admission.NEW
    second = velocity.rider(payment(merchant, 2500), "pay_2")
    rounds = gate.stats.redis_round_trips
    assert await gate.admit(merchant, WRITES, new_claim(), second) is Admission.NEW

    assert gate.stats.redis_round_trips == rounds + 1
    assert velocity.stats.round_trips == 0  # velocity never went to Redis on its own
    before_first, before_second = first.read(), second.read()
    assert before_first is not None and before_second is not None
    assert before_first.velocity.counters["card_count_1m"] == 0
    # The second payment sees the first, counted when it was admitted.
    counters = before_second.velocity.counters
    assert (counters["card_count_1m"], counters["card_sum_1m"]) == (1, 1500)
    assert before_second.velocity.customer_tx_count == 1
    # The same counters as velocity's own script reads now.
    assert await counted_so_far(velocity, merchant) == 2


async def test_a_repeat_or_a_reused_request_id_counts_nothing(
    gate_backend: GateBackend, make_gate: MakeGate
) -> None:
    gate = await make_gate(gate_backend)
    velocity, merchant, claim = velocity_of(gate), new_merchant_id(), new_claim()
    await gate.admit(merchant, WRITES, claim, velocity.rider(payment(merchant), "pay_1"))

    repeat = velocity.rider(payment(merchant), "pay_1")
    assert await gate.admit(merchant, WRITES, claim, repeat) is Admission.SEEN
    reused = velocity.rider(payment(merchant), "pay_2")
    other = new_claim(fingerprint=b"another request")
    other = type(other)(claim.operation, claim.request_id, other.fingerprint)
    assert await gate.admit(merchant, WRITES, other, reused) is Admission.CONFLICT

    assert repeat.read() is None and reused.read() is None
    assert await counted_so_far(velocity, merchant) == 1


async def test_a_rate_limited_payment_counts_nothing(
    gate_backend: GateBackend, make_gate: MakeGate
) -> None:
    limits = RateLimitSettings(writes_per_s=0.001, writes_burst=1)
    gate = await make_gate(gate_backend, limits=limits)
    velocity = velocity_of(gate)
    merchant = new_merchant_id()
    await gate.admit(merchant, WRITES, new_claim(), velocity.rider(payment(merchant), "pay_1"))

    refused = velocity.rider(payment(merchant), "pay_2")
    with pytest.raises(RateLimitedError):
        await gate.admit(merchant, WRITES, new_claim(), refused)

    assert refused.read() is None
    assert await counted_so_far(velocity, merchant) == 1


async def test_with_redis_away_gate_and_velocity_fail_open_without_asking_again(
    absent_redis: GateBackend, make_gate: MakeGate
) -> None:
    gate = await make_gate(absent_redis, retry_interval_s=60.0)
    velocity = velocity_of(gate)
    merchant = new_merchant_id()
    rider = velocity.rider(payment(merchant), "pay_1")

    assert await gate.admit(merchant, WRITES, new_claim(), rider) is Admission.UNCHECKED
    failures = gate.stats.redis_failures
    read = await velocity.read_and_count(payment(merchant), "pay_1", write=True)

    assert rider.read() is None
    assert read.velocity is UNAVAILABLE and read.list_version is None
    assert (velocity.stats.round_trips, velocity.stats.failures) == (0, 0)
    assert gate.stats.redis_failures == failures
