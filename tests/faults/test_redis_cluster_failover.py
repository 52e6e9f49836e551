"""Scenario 10: a Redis Cluster primary fails over to its replica under load.

paycore uses a Redis Cluster of three primaries with a replica each
(``PAYCORE_REDIS_CLUSTER``). The primary serving the merchant's keys (its rate
limits, request_id markers and velocity share one slot through their hash tag)
hangs (SIGSTOP, as a partitioned or frozen host does); after
``cluster-node-timeout`` its replica takes over, then the old primary comes
back and rejoins as a replica. Meanwhile paycore fails open (PostgreSQL alone
guards idempotency), its cluster client finds the new primary by itself, and
the markers and counters the replica had not received are simply gone: no
request may run twice and no client may be turned away.
"""

from __future__ import annotations

import asyncio

import pytest

from core.gate.limits import RpcClass
from core.redis.request_gate import rate_key

from .conftest import Scenario


@pytest.fixture
def redis_cluster() -> bool:
    return True


async def test_a_redis_cluster_primary_failing_over_mid_load_loses_and_doubles_nothing(
    scenario: Scenario,
) -> None:
    profile, cluster = scenario.profile, scenario.stack.cluster
    assert cluster is not None
    key = rate_key(scenario.merchant_id, RpcClass.WRITES)
    load = scenario.load()
    promoted = []
    for round_ in range(profile.rounds):
        await load.until_journeys(profile.journeys * (2 * round_ + 1))
        primary = cluster.node_for_key(key)
        with primary.client() as client:
            assert client.dbsize() > 0  # the merchant's markers and counters live there
        primary.pause()
        try:
            promoted.append(await asyncio.to_thread(cluster.wait_for_failover, key, primary))
            # Payments go on against the new primary...
            await load.until_journeys(profile.journeys * (2 * round_ + 2))
        finally:
            primary.resume()
        # ...and the old one is a replica again, ready for the next round.
        await asyncio.to_thread(cluster.wait_ready)
    journal = await load.stop()

    books = await scenario.books(journal, "Redis Cluster primary failed over")

    assert len(promoted) == profile.rounds
    assert books.unanswered == 0
    assert "UNAVAILABLE" not in journal.codes  # nobody was turned away during the failover
