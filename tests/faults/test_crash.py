"""Scenario 1: paycore is killed with SIGKILL mid-load, started again; clients retry."""

from __future__ import annotations

from .conftest import Scenario


async def test_kill_9_mid_load_loses_and_doubles_nothing(scenario: Scenario) -> None:
    profile = scenario.profile
    load = scenario.load()
    for round_ in range(profile.rounds):
        await load.until_journeys(profile.journeys * (2 * round_ + 1))
        await scenario.restart_paycore()
        await load.until_journeys(profile.journeys * (2 * round_ + 2))
    journal = await load.stop()

    books = await scenario.books(journal, "kill -9")

    assert scenario.stack.starts == profile.rounds + 1
    assert books.acknowledged >= profile.journeys
    # The clients saw the server gone (retried), and got through after the restart.
    assert journal.codes["UNAVAILABLE"] > 0
