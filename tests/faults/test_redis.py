"""Scenario 2: Redis goes away mid-load and comes back empty; Redis is flushed mid-load.

Redis only makes repeats cheaper (the gate's markers, rate limits, velocity):
PostgreSQL's request records still answer every retry the same.
"""

from __future__ import annotations

import asyncio

from .conftest import Scenario


async def test_redis_stopped_mid_load_then_restarted_loses_and_doubles_nothing(
    scenario: Scenario,
) -> None:
    profile, redis = scenario.profile, scenario.stack.redis
    load = scenario.load()
    for round_ in range(profile.rounds):
        await load.until_journeys(profile.journeys * (3 * round_ + 1))
        await asyncio.to_thread(redis.stop)
        # Payments go on without Redis (PostgreSQL alone), then with it again.
        await load.until_journeys(profile.journeys * (3 * round_ + 2))
        await asyncio.to_thread(redis.start)
        await load.until_journeys(profile.journeys * (3 * round_ + 3))
    journal = await load.stop()

    books = await scenario.books(journal, "Redis stopped, restarted")

    assert books.unanswered == 0
    assert "UNAVAILABLE" not in journal.codes  # nobody was turned away while Redis was down


async def test_redis_flushall_mid_load_loses_and_doubles_nothing(scenario: Scenario) -> None:
    profile, redis = scenario.profile, scenario.stack.redis
    load = scenario.load()
    for round_ in range(profile.rounds):
        await load.until_journeys(profile.journeys * (2 * round_ + 1))
        with redis.client() as client:
            assert client.dbsize() > 0  # markers and counters are there to lose
            client.flushall()
        await load.until_journeys(profile.journeys * (2 * round_ + 2))
    journal = await load.stop()

    books = await scenario.books(journal, "Redis FLUSHALL")

    assert books.unanswered == 0
    assert "UNAVAILABLE" not in journal.codes
