"""The Redis work of a request is ONE round trip (issue 3), counted by the server itself.

Redis' INFO commandstats counts every command it executes, those a script calls
included; after ``prepare()`` (which loads the script), N admitted writes must
add exactly N EVALSHA calls, the script's own commands, and nothing else. Reads
are cheaper still: one EVALSHA per lease of tokens (issue 18,
core/redis/read_leases.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from core.config import RateLimitSettings
from core.domain.money import Money
from core.domain.payment import CardSummary
from core.gate import Admission
from core.gate.limits import RateLimit
from core.redis.read_leases import lease_size
from core.redis.velocity import RedisVelocity
from riskengine.features import Transaction
from tests.support.redis_cluster import RedisClusterHandle
from tests.support.redis_server import RedisServerHandle

from .conftest import GateBackend, MakeGate
from .helpers import READS, WRITES, admit_all, new_claim

REQUESTS = 50
UNLIMITED = RateLimitSettings(
    writes_per_s=1e6, writes_burst=REQUESTS, reads_per_s=1e6, reads_burst=REQUESTS
)


def scripted_commands(writes: int, reads: int) -> Counter[str]:
    """What the gate's script calls inside Redis, which commandstats counts as well.

    Every write and every lease of reads: TIME, GET and SET of the rate key; a
    write's claim adds a SET NX of its marker (and a GET when the marker exists).
    ``reads``: the leases.
    """
    return Counter(time=writes + reads, get=writes + reads, set=2 * writes + reads)


class CommandCounts:
    """Calls per command on ``nodes``, summed, read over one connection per node.

    The connections are opened by the first ``read()`` (their HELLO and CLIENT
    commands precede its INFO), so a later read adds only other clients'
    commands and the earlier INFO calls.
    """

    def __init__(self, nodes: Sequence[RedisServerHandle]) -> None:
        self._connections = [node.client() for node in nodes]

    def read(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for connection in self._connections:
            for name, stats in connection.info("commandstats").items():
                counts[name.removeprefix("cmdstat_")] += stats["calls"]
        return counts

    def close(self) -> None:
        for connection in self._connections:
            connection.close()


async def _assert_one_evalsha_per_request(
    backend: GateBackend, nodes: Sequence[RedisServerHandle], make_gate: MakeGate, merchant_id: str
) -> None:
    gate = await make_gate(backend, limits=UNLIMITED)
    counts = CommandCounts(nodes)
    try:
        before = counts.read()
        writes = await admit_all(gate, merchant_id, WRITES, REQUESTS)
        reads = await admit_all(gate, merchant_id, READS, REQUESTS)
        executed = counts.read() - before
    finally:
        counts.close()

    assert set(writes) == {Admission.NEW}
    assert set(reads) == {Admission.UNCHECKED}
    # From the network: one EVALSHA per write and per lease of reads, and our
    # first INFO per node.
    lease = lease_size(RateLimit(UNLIMITED.reads_per_s, UNLIMITED.reads_burst))
    leases = -(-REQUESTS // lease)
    assert 1 < leases < REQUESTS
    sent = Counter(evalsha=REQUESTS + leases, info=len(nodes))
    assert executed == sent + scripted_commands(writes=REQUESTS, reads=leases)
    assert gate.stats.redis_round_trips == REQUESTS + leases


async def test_each_request_is_one_evalsha_on_a_single_redis(
    private_redis: RedisServerHandle, make_gate: MakeGate, merchant_id: str
) -> None:
    backend = GateBackend(private_redis.url, cluster=False)
    await _assert_one_evalsha_per_request(backend, [private_redis], make_gate, merchant_id)


async def test_each_request_is_one_evalsha_on_a_redis_cluster(
    redis_cluster: RedisClusterHandle, make_gate: MakeGate, merchant_id: str
) -> None:
    backend = GateBackend(redis_cluster.url, cluster=True)
    await _assert_one_evalsha_per_request(backend, redis_cluster.nodes, make_gate, merchant_id)


async def test_a_new_card_payment_runs_ten_redis_commands_in_its_one_evalsha(
    private_redis: RedisServerHandle, make_gate: MakeGate, merchant_id: str
) -> None:
    """The gate's four (TIME, GET and SET of the rate, SET NX of the marker) and its
    velocity's six: ZRANGE, ZADD and PEXPIRE of the card's set, one ZCOUNT of its
    declines (none in the day: the hour is not asked), one ZCOUNT of its lost
    disputes and the GET of the list version. The velocity reads no clock of its
    own: it uses the gate's TIME."""
    gate = await make_gate(GateBackend(private_redis.url, cluster=False), limits=UNLIMITED)
    velocity = RedisVelocity(
        gate.client, retry_interval_s=1.0, availability=gate.availability, pipeline=gate.pipeline
    )
    await gate.prepare(velocity.lua)
    card = CardSummary("visa", "424242", "4242", 12, 2030, "fp_nine")
    rider = velocity.rider(Transaction(merchant_id, Money(1500, "USD"), card), "pay_1")
    counts = CommandCounts([private_redis])
    try:
        before = counts.read()
        assert await gate.admit(merchant_id, WRITES, new_claim(), rider) is Admission.NEW
        executed = counts.read() - before
    finally:
        counts.close()

    scripted = Counter(time=1, get=2, set=2, zrange=1, zadd=1, pexpire=1, zcount=2)
    assert sum(scripted.values()) == 10
    assert executed == Counter(evalsha=1, info=1) + scripted
