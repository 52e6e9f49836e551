"""Scenario 3: PostgreSQL restarts mid-load; paycore's pool finds it again without a restart."""

from __future__ import annotations

import asyncio

from .conftest import Scenario


async def test_postgres_restart_mid_load_loses_and_doubles_nothing(scenario: Scenario) -> None:
    profile, stack = scenario.profile, scenario.stack
    load = scenario.load()
    for round_ in range(profile.rounds):
        await load.until_journeys(profile.journeys * (2 * round_ + 1))
        await asyncio.to_thread(stack.restart_postgres, 1.0)
        await load.until_journeys(profile.journeys * (2 * round_ + 2))
    journal = await load.stop()
    await scenario.db.expire_connections()  # the checker's own pool lost its connections too

    books = await scenario.books(journal, "PostgreSQL restarted")

    assert stack.starts == 1, "paycore was not restarted"
    assert stack.paycore is not None and stack.paycore.poll() is None
    assert journal.codes["UNAVAILABLE"] > 0  # the outage was seen, and retried through
    assert books.acknowledged >= profile.journeys
